"""Analytics views over time: the dashboard's series (data.py) and the self-contained HTML report (html.py)."""
