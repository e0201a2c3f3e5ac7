import pytest

from mdkit.utils import parse_named_files


def test_parse_named_files(tmp_path):
    a = tmp_path / 'a.pth'
    a.write_bytes(b'')
    pairs = parse_named_files([f'2k={a}', f'5k run={a}'], 'CHECKPOINT', 'checkpoint', 'k=c.pth')
    assert pairs == [('2k', str(a)), ('5k run', str(a))]
    for bad in (str(a), f'={a}', 'name='):
        with pytest.raises(ValueError, match=r'is not NAME=CHECKPOINT \(e.g. k=c.pth\)'):
            parse_named_files([bad], 'CHECKPOINT', 'checkpoint', 'k=c.pth')
    with pytest.raises(FileNotFoundError, match=r'results file not found: .*none.json \(run X\)'):
        parse_named_files([f'a={tmp_path / "none.json"}'], 'RESULTS.json', 'results file',
                          'a=r.json', hint='run X')
    with pytest.raises(ValueError, match="name '2k' is given twice"):
        parse_named_files([f'2k={a}', f'2k={a}'], 'CHECKPOINT', 'checkpoint', 'k=c.pth')
