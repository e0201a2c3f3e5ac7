import pytest

from mdkit.apis import parse_length


def test_parse_length():
    assert parse_length('4.0s', 20) == 80
    assert parse_length('80', 20) == 80
    assert parse_length(64, 20) == 64
    with pytest.raises(ValueError, match='seconds'):
        parse_length('four', 20)
    with pytest.raises(ValueError, match='ambiguous'):
        parse_length(4.0, 20)
