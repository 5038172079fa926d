"""dispatcher: Kamailio's load balancer (destination sets, algorithms, probing). See
README.md."""
