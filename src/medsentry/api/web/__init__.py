"""The web dashboard: server-rendered Jinja2 pages, htmx for partial updates, SVG charts."""
