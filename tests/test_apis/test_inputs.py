import pytest

from mdkit.apis import parse_length, read_prompt_file


def test_parse_length():
    assert parse_length('4.0s', 20) == 80
    assert parse_length('80', 20) == 80
    assert parse_length(64, 20) == 64
    with pytest.raises(ValueError, match='seconds'):
        parse_length('four', 20)
    with pytest.raises(ValueError, match='ambiguous'):
        parse_length(4.0, 20)


def test_read_prompt_file(tmp_path):
    f = tmp_path / 'prompts.txt'
    f.write_text('a person walks#4s\n\n  jump  \nwave#60#clip.mp4\nrun##clip.mp4\n',
                 encoding='utf-8')
    prompts, lengths, videos = read_prompt_file(str(f), default_length=80)
    assert prompts == ['a person walks', 'jump', 'wave', 'run']
    assert lengths == ['4s', 80, '60', 80]
    assert videos == [None, None, 'clip.mp4', 'clip.mp4']
    with pytest.raises(FileNotFoundError, match='prompt file not found'):
        read_prompt_file(str(tmp_path / 'missing.txt'))
    (tmp_path / 'empty.txt').write_text('\n  \n', encoding='utf-8')
    with pytest.raises(ValueError, match='no prompts'):
        read_prompt_file(str(tmp_path / 'empty.txt'))
    (tmp_path / 'bad.txt').write_text('walk\n#4s\n', encoding='utf-8')
    with pytest.raises(ValueError, match=r'bad.txt:2: empty prompt'):
        read_prompt_file(str(tmp_path / 'bad.txt'))
