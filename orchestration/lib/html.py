"""The Jinja2 environment of the project's static pages (orchestration/templates/): portraits and the
quality report. Pages are self-contained and open from disk, with no network."""

from jinja2 import Environment, PackageLoader, select_autoescape

templates = Environment(loader=PackageLoader("orchestration", "templates"), autoescape=select_autoescape(),
                        trim_blocks=True, lstrip_blocks=True)
