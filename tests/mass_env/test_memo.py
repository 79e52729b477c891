import pytest

from mass_env.memo import BoundedMemo


def test_a_kept_value_is_built_once_and_a_full_memo_starts_again():
    built: list[int] = []
    memo: BoundedMemo[int, int] = BoundedMemo(2)

    def build(k: int) -> int:
        built.append(k)
        return k * 10

    assert [memo.get_or(k, lambda k=k: build(k)) for k in (1, 1, 2, 2)] == [10, 10, 20, 20]
    assert built == [1, 2]
    assert memo.get_or(3, lambda: build(3)) == 30  # full: forgets 1 and 2, keeps 3
    assert dict(memo) == {3: 30} and built == [1, 2, 3]


def test_a_memo_needs_room_for_one_value():
    with pytest.raises(ValueError, match="limit must be >= 1"):
        BoundedMemo(0)
