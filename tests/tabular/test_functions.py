"""Pure functions of the tabular stages, on tiny frames."""
import numpy as np
import pandas as pd
import pytest

from stages.core.errors import DataError
from stages.tabular.analyze import analyze, choose_scaler, iqr_outliers
from stages.tabular.balance import balance, class_counts
from stages.tabular.download import derive_seaborn_columns, load_embedded, validate_schema
from stages.tabular.encode import apply_encoding, fit_encoding
from stages.tabular.impute import fit_imputer, impute
from stages.tabular.scale import align_columns, apply_scalers, choose_scalers, fit_scalers
from stages.tabular.split import split


@pytest.fixture
def people():
    return pd.DataFrame({
        "survived": [0, 1, 1, 0, 1, 0],
        "pclass": [3, 1, 2, 3, 1, 2],
        "sex": ["male", "female", "female", "male", "female", "male"],
        "age": [22.0, 38.0, np.nan, 35.0, 4.0, 54.0],
        "sibsp": [1, 1, 0, 0, 1, 0],
        "parch": [0, 0, 0, 0, 1, 0],
        "embarked": ["S", "C", "S", None, "Q", "S"],
    })


def test_schema_names_the_missing_column(people):
    validate_schema(people, "t.csv")
    with pytest.raises(DataError, match=r"t.csv: required column\(s\) missing: age"):
        validate_schema(people.drop(columns=["age"]), "t.csv")
    with pytest.raises(DataError, match="'survived' must be 0 or 1"):
        validate_schema(people.assign(survived=[0, 1, 2, 0, 1, 0]), "t.csv")


def test_seaborn_columns_derived(people):
    out = derive_seaborn_columns(people)
    assert list(out["who"]) == ["man", "woman", "woman", "man", "child", "man"]
    assert list(out["alive"]) == ["no", "yes", "yes", "no", "yes", "no"]
    assert list(out["alone"]) == [False, False, True, True, False, True]
    assert "who" not in people  # input not mutated


def test_embedded_data_is_real_titanic():
    frame = load_embedded()
    assert len(frame) == 1309 and set(frame["pclass"]) == {1, 2, 3}
    validate_schema(frame, "embedded")


def test_split_is_stratified_and_seeded(people):
    frame = pd.concat([people] * 10, ignore_index=True)
    a_train, a_test = split(frame, 0.3, seed=1)
    b_train, _ = split(frame, 0.3, seed=1)
    pd.testing.assert_frame_equal(a_train, b_train)
    assert a_test["survived"].mean() == pytest.approx(frame["survived"].mean())


def test_encoding_is_learned_from_train_only(people):
    train, test = people.iloc[:4], people.iloc[4:]
    enc = fit_encoding(derive_seaborn_columns(train), ["alive", "class"], "onehot")
    out = apply_encoding(derive_seaborn_columns(test), enc)
    assert list(out.columns) == enc["columns"]
    assert "embarked_Q" not in out.columns  # Q only occurs in test: all-zero dummies there
    assert out.filter(like="embarked_").iloc[0].sum() == 0
    assert set(out["adult_male"]) <= {0.0, 1.0}
    with pytest.raises(DataError, match="cannot drop the target"):
        fit_encoding(train, ["survived"], "onehot")


def test_label_encoding_keeps_nan_for_the_imputer(people):
    enc = fit_encoding(people, [], "label")
    out = apply_encoding(people, enc)
    assert out["embarked"].isna().sum() == 1
    assert sorted(out["sex"].unique()) == [0.0, 1.0]


def test_imputer_uses_train_medians(people):
    enc = fit_encoding(people, [], "onehot")
    train = apply_encoding(people, enc)
    imputer = fit_imputer(train)
    filled = impute(train, imputer)
    assert filled["age"].isna().sum() == 0
    assert filled.loc[2, "age"] == pytest.approx(np.nanmedian(people["age"]))
    with pytest.raises(KeyError):
        impute(train.drop(columns=["age"]), imputer)


def test_iqr_and_scaler_rule():
    assert iqr_outliers(np.array([1, 2, 3, 4, 100.0]))["outliers"] == 1
    assert choose_scaler(0.5, 0.0, 3, 0.05) == "standard"
    assert choose_scaler(0.0, 0.5, 3, 0.05) == "minmax"
    assert choose_scaler(0.0, 0.0, 3, 0.05) == "robust"
    assert choose_scaler(0.0, 0.0, 0, 0.05) == "minmax"


def test_analyze_picks_standard_for_normal_data():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"n": rng.normal(size=400), "u": rng.uniform(size=400), "s": rng.exponential(size=400)})
    result = analyze(frame, ["n", "u", "s", "absent"], 0.05, 10)
    assert [result[c]["scaler"] for c in "nus"] == ["standard", "minmax", "robust"]
    with pytest.raises(DataError, match="none of"):
        analyze(frame, ["absent"], 0.05, 10)


def test_scalers_fit_on_train_and_align_test():
    train = pd.DataFrame({"age": [10.0, 20.0, 30.0], "x": [0.0, 1.0, 0.0], "survived": [0, 1, 0]})
    test = pd.DataFrame({"survived": [1], "age": [40.0], "extra": [1.0]})
    choice = choose_scalers({"age": {"scaler": "robust"}}, {"age": "minmax"})
    scalers = fit_scalers(train, choice)
    aligned = align_columns(test, train.columns)
    assert list(aligned.columns) == ["age", "x", "survived"]
    assert apply_scalers(aligned, scalers)["age"].iloc[0] == pytest.approx(1.5)  # (40-10)/(30-10)
    with pytest.raises(DataError, match="not analysed: fare"):
        choose_scalers({"age": {"scaler": "robust"}}, {"fare": "minmax"})


@pytest.mark.parametrize("method,expected", [("none", {"0": 4, "1": 2}), ("under", {"0": 2, "1": 2}), ("over", {"0": 4, "1": 4})])
def test_balance(method, expected):
    train = pd.DataFrame({"survived": [0, 0, 0, 0, 1, 1], "x": range(6)})
    assert class_counts(balance(train, method, seed=0)) == expected
