"""Loaders for the crowd-kit and Krippendorff fixtures copied under tests/fixtures/consensus."""

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as csv
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "consensus"
CROWDKIT = FIXTURES / "crowdkit"

_STR = pa.string()


def read_csv(path: Path) -> pa.Table:
    """Every column read as string, so ids like 't1' or '0' keep their spelling."""
    names = csv.read_csv(path, read_options=csv.ReadOptions(autogenerate_column_names=False)).column_names
    return csv.read_csv(path, convert_options=csv.ConvertOptions(column_types={n: _STR for n in names}))


def answers(path: Path) -> pa.Table:
    """crowd-kit answers (worker, task, label in any order) as a votes table."""
    t = read_csv(path)
    return pa.table({"item_id": t["task"], "source_id": t["worker"], "label": t["label"]})


def gold(path: Path) -> pa.Table:
    t = read_csv(path)
    return pa.table({"item_id": t["task"], "label": t[t.column_names[1]]})


def as_dict(table: pa.Table, key: str, value: str) -> dict:
    return dict(zip(table[key].to_pylist(), table[value].to_pylist()))


@pytest.fixture
def toy():
    return answers(CROWDKIT / "inputs" / "toy_answers_df.csv")


@pytest.fixture
def toy_truth():
    return as_dict(gold(CROWDKIT / "inputs" / "toy_ground_truth_df.csv"), "item_id", "label")


@pytest.fixture
def toy_gold():
    return gold(CROWDKIT / "inputs" / "toy_gold_df.csv")


@pytest.fixture
def simple():
    return answers(CROWDKIT / "inputs" / "simple_answers_df.csv")


@pytest.fixture
def simple_truth():
    return as_dict(gold(CROWDKIT / "inputs" / "simple_ground_truth.csv"), "item_id", "label")


@pytest.fixture
def simple_gold():
    return gold(CROWDKIT / "inputs" / "simple_gold_df.csv")


TOY_CLASSES = ("no", "yes")
SIMPLE_CLASSES = ("chicken", "goose", "parrot")
