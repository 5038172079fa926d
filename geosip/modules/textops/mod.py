"""textops: text operations on the message (Kamailio's textops module, KEMI exports).
See README.md for each function and its return codes."""

from __future__ import annotations

from geosip.script.exports import ModuleExports

from . import body, strings, textops

EXPORTS = ModuleExports(
    name="textops",
    ksr=(textops.search, textops.search_body, textops.search_hf, textops.search_append,
         textops.search_append_body, textops.is_present_hf, textops.is_present_hf_re,
         textops.remove_hf_re, textops.remove_hf_exp, textops.replace, textops.replace_all,
         textops.replace_body, textops.replace_body_all, textops.replace_body_atonce,
         textops.subst, textops.subst_uri, textops.subst_user, textops.subst_body,
         textops.subst_hf, body.has_body, body.has_body_type, body.set_body,
         body.set_reply_body, body.is_privacy, strings.cmp_str, strings.cmp_istr,
         strings.starts_with, strings.in_list, strings.in_list_prefix),
    doc="Regular-expression search and replace over the message, body and string "
        "helpers (Kamailio's textops).",
)
