"""Package discovery only; all metadata lives in pyproject.toml.

cli/ and registry/ sit at the top of the repository (the layout users asked for) but install as
``promptkit.cli`` and ``promptkit.registry`` through ``package-dir`` in pyproject.toml. Static
``packages.find`` cannot express "these folders under another name", so the list is computed
here and no subpackage can be forgotten.
"""

from setuptools import find_packages, setup

MAPPED = {"promptkit.cli": "cli", "promptkit.registry": "registry"}

packages = find_packages(include=["promptkit", "promptkit.*"])
for package, folder in MAPPED.items():
    packages += [package] + [f"{package}.{sub}" for sub in find_packages(where=folder)]

setup(packages=packages)
