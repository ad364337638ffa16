"""2,000 rows; line 501 opens a quote that nothing closes."""
def make(folder):
    rows = [f"comment {i},x" for i in range(2000)]
    rows[499] = '"this quote is never closed,x'
    (folder / "data.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
