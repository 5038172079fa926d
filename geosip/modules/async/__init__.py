"""async: Kamailio's asynchronous routing for scripts (KSR.async). See README.md.

(`async` is a Python keyword: the engine imports geosip.modules.async.mod with
importlib, never with an import statement.)"""
