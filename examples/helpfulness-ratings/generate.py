"""Writes the sample rating project's files: 30 questions, each with one model-style answer we wrote ourselves,
rated 1-5 for helpfulness and for accuracy. The true scores are ours too (how we wrote each answer: a correct
and complete one, a correct but evasive one, a confident wrong one, ...); every third item is hidden gold.
Deterministic: `uv run python examples/helpfulness-ratings/generate.py` rewrites the same files."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
# (question, answer, helpfulness, accuracy)
ITEMS = [
    ("What is the boiling point of water at sea level in Celsius?",
     "Water boils at 100 °C at sea level (standard atmospheric pressure, 101.325 kPa).", 5, 5),
    ("How many days are in a leap year?", "A leap year has 365 days, one more than a common year.", 2, 1),
    ("What does HTTP status code 404 mean?",
     "404 Not Found: the server is reachable but has nothing at the requested URL. Check the path for typos.", 5, 5),
    ("Who wrote the novel 'Pride and Prejudice'?", "It is a classic English novel from the nineteenth century.", 2, 4),
    ("How do I reverse a list in Python?",
     "Use `items.reverse()` to reverse it in place, or `items[::-1]` for a reversed copy.", 5, 5),
    ("What is the capital of Australia?", "The capital of Australia is Sydney, its largest city.", 2, 1),
    ("How many bytes are in a kilobyte?",
     "In the SI sense 1,000 bytes; in the binary sense (a kibibyte, KiB) 1,024 bytes.", 5, 5),
    ("Why is the sky blue?", "Because it reflects the colour of the oceans.", 1, 1),
    ("How do I convert 5 miles to kilometres?", "Multiply by about 1.609: 5 miles is roughly 8 km.", 4, 5),
    ("What is photosynthesis?",
     "Plants turn light, water and carbon dioxide into sugar and oxygen. It happens in the chloroplasts.", 4, 5),
    ("What year did the first person walk on the Moon?", "That was in the late 1960s, during the Apollo programme.", 3, 4),
    ("How do I undo the last git commit but keep my changes?",
     "Run `git reset --soft HEAD~1`: the commit is undone and its changes stay staged.", 5, 5),
    ("What is the square root of 144?", "The square root of 144 is 14.", 2, 1),
    ("Is a tomato a fruit or a vegetable?",
     "Botanically a fruit (it develops from the flower and holds seeds); in cooking it is used as a vegetable.", 5, 5),
    ("How long should I boil an egg for a soft yolk?", "Eggs are a good source of protein.", 1, 3),
    ("What is the chemical symbol for gold?", "Au, from the Latin aurum.", 5, 5),
    ("How do I make text bold in Markdown?", "Put it between double asterisks: `**bold**`.", 5, 5),
    ("What is the largest planet in the Solar System?", "Saturn is the largest planet, famous for its rings.", 2, 1),
    ("How do I find the length of a string in JavaScript?",
     "Use the `length` property, e.g. `'abc'.length` is 3. It counts UTF-16 code units.", 5, 5),
    ("What causes the seasons on Earth?",
     "The tilt of Earth's axis: each hemisphere gets more direct sunlight for part of the year.", 4, 5),
    ("How many continents are there?", "There are seven continents in the most common convention.", 4, 5),
    ("What is the speed of light?", "Light is fast, faster than anything else.", 2, 3),
    ("How do I exit Vim?", "Press Esc, then type `:q` and Enter (`:wq` to save first, `:q!` to discard changes).", 5, 5),
    ("Which gas do humans need to breathe to survive?", "Humans need nitrogen, the main gas in air.", 2, 1),
    ("What does CPU stand for?", "Central Processing Unit.", 4, 5),
    ("How do I center a div horizontally in CSS?",
     "Give it a width and `margin: 0 auto;`, or make the parent `display: flex; justify-content: center;`.", 5, 5),
    ("What is 15% of 200?", "15% of 200 is 30.", 4, 5),
    ("Who painted the Mona Lisa?", "Probably an Italian painter, but opinions differ.", 2, 2),
    ("What is the freezing point of water in Fahrenheit?", "Water freezes at 0 °F.", 2, 1),
    ("How do I list files in a directory on Linux?",
     "Use `ls`; `ls -l` adds sizes and dates, `ls -a` shows hidden files.", 5, 5),
]


def main() -> None:
    rows, truth = [], []
    for k, (question, answer, helpful, accurate) in enumerate(ITEMS):
        rows.append({"id": f"q{k:02d}", "text": f"**Question:** {question}\n\n**Answer:** {answer}"})
        truth.append({"id": f"q{k:02d}", "answer": {"scores": {"accuracy": accurate, "helpfulness": helpful}}})
    for folder in ("data", "truth", "gold"):
        (HERE / folder).mkdir(exist_ok=True)
    (HERE / "data" / "answers.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (HERE / "truth" / "labels.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth), encoding="utf-8")
    (HERE / "gold" / "gold.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth[::3]), encoding="utf-8")


if __name__ == "__main__":
    main()
