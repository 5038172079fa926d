"""Build for geosip (setuptools).

The top-level folders db/, gateways/ and snmp/ (and scripts/ for the Lua routing scripts)
are installed inside the geosip package through package_dir, so an install puts exactly
one name, `geosip`, into site-packages (DESIGN.md, Layers).
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

# Source folder of every installed top package; sub-packages are found under each.
ROOTS = {
    "geosip": "geosip",
    "geosip.db": "db",
    "geosip.gateways": "gateways",
    "geosip.snmp": "snmp",
    "geosip.scripts": "scripts",
}


def _packages() -> list[str]:
    packages = []
    for name, folder in ROOTS.items():
        packages.append(name)
        # find_packages(folder) names sub-packages relative to folder ("sip.txn").
        packages += [f"{name}.{sub}" for sub in find_packages(str(HERE / folder))]
    return sorted(set(packages))


def _version() -> str:
    # Read, not import: importing geosip at build time would need its dependencies.
    text = (HERE / "geosip" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise RuntimeError("geosip/__init__.py has no __version__")
    return match.group(1)


setup(
    name="geosip",
    version=_version(),
    description="SIP proxy, registrar and IM server routed by Lua scripts (Kamailio KEMI API)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=_packages(),
    package_dir=ROOTS,
    package_data={"geosip.scripts": ["*.lua"], "geosip.snmp": ["*.txt"]},
    include_package_data=False,
    install_requires=[
        "lupa>=2.8,<3",
        "gevent>=24,<27",
        "peewee>=3.17,<5",
        "ujson>=5.9,<7",
        "pysnmp>=7.1,<8",
        "slixmpp>=1.8,<2",
        "dnspython>=2.4,<3",
        "wsproto>=1.2,<2",
        "psycopg[binary]>=3.1,<4",
        "prometheus-client>=0.20,<1",
        "smpplib>=2.2.4,<3",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "hypothesis>=6.100,<7",
            "trustme>=1.1,<2",
            "websockets>=13,<18",
        ],
    },
    entry_points={
        "console_scripts": [
            "geosip=geosip.cli.main:main",
            "geosipctl=geosip.cli.ctl:main",
        ],
    },
    zip_safe=False,
)
