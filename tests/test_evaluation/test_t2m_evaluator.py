"""T2MEvaluator: published checkpoint layout, GloVe files, normalisation, order and padding."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from mdkit.evaluation.evaluators import (
    POS_ENUMERATOR,
    BaseMotionEvaluator,
    T2MEvaluator,
    WordVectorizer,
    simple_tokenize,
)
from mdkit.registry import MODELS

WORDS = ['unk', 'sos', 'eos', 'a', 'man', 'person', 'kick', 'with', 'his', 'left', 'leg', 'walk',
         'forward', 'slowly', 'and', 'then', 'turn', 'around', 'the', 'jump', 'up']
TEXTS = ['a man kicks with his left leg', 'a person walks forward slowly',
         'the man turns around and then jumps up', 'walk']


def _write_glove(folder, words=WORDS, dim=300, seed=0):
    """The three published GloVe files; rows are stored shuffled to exercise the index."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(words))
    vectors = rng.normal(size=(len(words), dim)).astype(np.float32)
    np.save(osp.join(folder, 'our_vab_data.npy'), vectors)
    with open(osp.join(folder, 'our_vab_words.pkl'), 'wb') as f:
        pickle.dump(list(words), f)
    with open(osp.join(folder, 'our_vab_idx.pkl'), 'wb') as f:
        pickle.dump({w: int(r) for w, r in zip(words, rows)}, f)
    return {w: vectors[r] for w, r in zip(words, rows)}


def _write_mean_std(folder, dim, seed=1, names=('mean.npy', 'std.npy')):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dim).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=dim).astype(np.float32)
    np.save(osp.join(folder, names[0]), mean)
    np.save(osp.join(folder, names[1]), std)
    return mean, std


def _published_state(ev):
    """A dict laid out like the published finest.tar (optimizer states and counters too)."""
    opt = torch.optim.Adam([torch.zeros(3, requires_grad=True)], lr=1e-4)
    return {'movement_encoder': ev.movement_encoder.state_dict(),
            'text_encoder': ev.text_encoder.state_dict(),
            'motion_encoder': ev.motion_encoder.state_dict(),
            'opt_text_encoder': opt.state_dict(), 'opt_motion_encoder': opt.state_dict(),
            'epoch': 7, 'iter': 1234}


def _motions(lengths, dim=263, frames=None, seed=0):
    """De-normalised motions zero-padded after each length."""
    gen = torch.Generator().manual_seed(seed)
    frames = frames or max(lengths)
    x = torch.randn(len(lengths), frames, dim, generator=gen)
    for i, n in enumerate(lengths):
        x[i, n:] = 0
    return x, torch.tensor(lengths)


@pytest.fixture(scope='module')
def published(tmp_path_factory):
    """A random evaluator saved in the published folder layout, with GloVe and Mean/Std."""
    root = tmp_path_factory.mktemp('t2m_eval')
    glove = str(root / 'glove')
    vectors = _write_glove(glove)
    meta = str(root / 't2m' / 'Comp_v6_KLD01' / 'meta')
    mean, std = _write_mean_std(meta, 263)
    torch.manual_seed(0)
    ev = T2MEvaluator(glove_dir=glove, mean_std_dir=meta)
    ckpt = root / 't2m' / 'text_mot_match' / 'model' / 'finest.tar'
    ckpt.parent.mkdir(parents=True)
    torch.save(_published_state(ev), str(ckpt))
    return dict(ev=ev, ckpt=str(ckpt), glove=glove, meta=meta, mean=mean, std=std,
                vectors=vectors, root=root)


@pytest.fixture(scope='module')
def loaded(published):
    return T2MEvaluator(checkpoint=published['ckpt'], glove_dir=published['glove'],
                        mean_std_dir=published['meta'])


def test_checkpoint_round_trip_reproduces_embeddings(published, loaded):
    ev = published['ev']
    motion, lengths = _motions([40, 73, 120])
    assert torch.equal(ev.encode_motion(motion, lengths), loaded.encode_motion(motion, lengths))
    assert torch.equal(ev.encode_text(TEXTS), loaded.encode_text(TEXTS))
    ident = loaded.identity()
    assert ident['type'] == 'T2MEvaluator' and ident['epoch'] == 7
    assert ident['checkpoint_sha256'] and ident['glove_sha256'] and ident['mean_sha256']
    # a fresh random model really is different
    torch.manual_seed(123)
    other = T2MEvaluator(mean_std_dir=published['meta'])
    assert not torch.allclose(other.encode_motion(motion, lengths),
                              loaded.encode_motion(motion, lengths))


def test_published_mean_std_found_next_to_checkpoint(published, loaded):
    auto = T2MEvaluator(checkpoint=published['ckpt'])
    assert auto.mean_file == osp.join(published['meta'], 'mean.npy')
    motion, lengths = _motions([48, 60])
    assert torch.equal(auto.encode_motion(motion, lengths), loaded.encode_motion(motion, lengths))


def test_shapes_registry_and_frozen(loaded):
    motion, lengths = _motions([40, 52, 196])
    emb = loaded.encode_motion(motion, lengths)
    txt = loaded.encode_text(TEXTS)
    assert emb.shape == (3, 512) and txt.shape == (4, 512)
    assert emb.dtype == txt.dtype == torch.float32
    assert torch.isfinite(emb).all() and torch.isfinite(txt).all()
    assert isinstance(loaded, BaseMotionEvaluator)
    assert (loaded.embed_dim, loaded.feature_dim, loaded.unit_length) == (512, 263, 4)
    loaded.train()
    assert not loaded.training and not any(m.training for m in loaded.modules())
    assert not any(p.requires_grad for p in loaded.parameters())
    built = MODELS.build(dict(type='T2MEvaluator', dataset='t2m'))
    assert isinstance(built, T2MEvaluator) and built.feature_dim == 263
    assert loaded.encode_text([]).shape == (0, 512)


def test_output_order_follows_input_order(loaded):
    motion, lengths = _motions([40, 196, 64, 121, 88])
    perm = torch.tensor([3, 0, 4, 1, 2])
    emb = loaded.encode_motion(motion, lengths)
    emb_perm = loaded.encode_motion(motion[perm], lengths[perm])
    torch.testing.assert_close(emb_perm, emb[perm], atol=1e-5, rtol=1e-5)
    txt = loaded.encode_text(TEXTS)
    order = [2, 0, 3, 1]
    torch.testing.assert_close(loaded.encode_text([TEXTS[i] for i in order]), txt[order],
                               atol=1e-5, rtol=1e-5)
    # each row equals the embedding of that motion alone
    torch.testing.assert_close(loaded.encode_motion(motion[1:2], lengths[1:2]), emb[1:2],
                               atol=1e-5, rtol=1e-5)


def test_padding_beyond_length_is_ignored(loaded):
    motion, lengths = _motions([60, 100], frames=100)
    emb = loaded.encode_motion(motion, lengths)
    garbage = torch.cat([motion, torch.zeros(2, 150, 263)], 1)
    garbage[0, 60:] = 50.0 * torch.randn(190, 263)
    garbage[1, 100:] = -30.0
    torch.testing.assert_close(loaded.encode_motion(garbage, lengths), emb, atol=1e-5, rtol=1e-5)
    cropped = loaded.encode_motion(motion[:1, :60], lengths[:1])
    torch.testing.assert_close(cropped, emb[:1], atol=1e-5, rtol=1e-5)


def test_lengths_round_down_to_unit_length(loaded):
    motion, _ = _motions([80])
    base = loaded.encode_motion(motion, torch.tensor([60]))
    for n in (61, 62, 63):
        torch.testing.assert_close(loaded.encode_motion(motion, torch.tensor([n])), base,
                                   atol=1e-5, rtol=1e-5)
    assert not torch.allclose(loaded.encode_motion(motion, torch.tensor([64])), base, atol=1e-4)
    # frames 60..62 of a 63-frame motion are dropped, as the protocol's crop does
    torch.testing.assert_close(loaded.encode_motion(motion[:, :60], torch.tensor([60])), base,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='at least 4 frames'):
        loaded.encode_motion(motion, torch.tensor([3]))
    with pytest.raises(ValueError, match='expects motions of shape'):
        loaded.encode_motion(motion[..., :251], torch.tensor([60]))


def _published_protocol(ev, motion, lengths, mean, std):
    """The published evaluation path: crop to a multiple of 4, normalise, zero-pad to 196,
    sort by length, pack with sorted lengths, restore the order."""
    m_lens = lengths // 4 * 4
    x = (motion - torch.from_numpy(mean)) / torch.from_numpy(std)
    padded = torch.zeros(len(x), 196, x.shape[-1])
    for i, n in enumerate(m_lens.tolist()):
        padded[i, :n] = x[i, :n]
    align = torch.from_numpy(np.argsort(m_lens.numpy())[::-1].copy())
    mov = ev.movement_encoder(padded[align][..., :-4])
    enc = ev.motion_encoder
    emb = enc.input_emb(mov)
    packed = pack_padded_sequence(emb, (m_lens[align] // 4).tolist(), batch_first=True)
    _, last = enc.gru(packed, enc.hidden.repeat(1, len(x), 1))
    out = enc.output_net(torch.cat([last[0], last[1]], -1))
    return out[torch.argsort(align)]


def test_matches_published_protocol(published, loaded):
    motion, lengths = _motions([40, 196, 77, 150, 194], frames=196)
    with torch.no_grad():
        ref = _published_protocol(loaded, motion, lengths, published['mean'], published['std'])
    torch.testing.assert_close(loaded.encode_motion(motion, lengths), ref, atol=1e-5, rtol=1e-5)


def test_mean_std_normalisation_is_applied(published, loaded):
    plain = T2MEvaluator(checkpoint=published['ckpt'],
                         mean_file=osp.join(published['meta'], 'mean.npy'),
                         std_file=osp.join(published['meta'], 'std.npy'))
    identity = T2MEvaluator(checkpoint=published['ckpt'], mean_std_dir=published['meta'])
    identity.mean.zero_()
    identity.std.fill_(1.0)
    motion, lengths = _motions([48, 96])
    normed = (motion - torch.from_numpy(published['mean'])) / torch.from_numpy(published['std'])
    torch.testing.assert_close(plain.encode_motion(motion, lengths),
                               identity.encode_motion(normed, lengths), atol=1e-5, rtol=1e-5)


def test_mismatched_checkpoint_lists_every_problem(published, tmp_path):
    state = torch.load(published['ckpt'], weights_only=True)
    del state['text_encoder']['hidden']
    state['motion_encoder']['input_emb.weight'] = torch.zeros(1024, 256)
    state['movement_encoder']['extra.weight'] = torch.zeros(3)
    bad = str(tmp_path / 'bad.tar')
    torch.save(state, bad)
    with pytest.raises(RuntimeError) as info:
        T2MEvaluator(checkpoint=bad, mean_std_dir=published['meta'])
    msg = str(info.value)
    assert '3 problems' in msg
    assert 'text_encoder: missing key hidden' in msg
    assert 'motion_encoder: input_emb.weight has shape (1024, 256)' in msg
    assert 'movement_encoder: unexpected key extra.weight' in msg

    kit_movement = T2MEvaluator(dataset='kit').movement_encoder.state_dict()
    torch.save({'movement_encoder': kit_movement, 'epoch': 1}, bad)
    with pytest.raises(RuntimeError, match='text_encoder: missing from the checkpoint') as info:
        T2MEvaluator(checkpoint=bad, mean_std_dir=published['meta'])
    assert 'takes 251-d motion features' in str(info.value)


class _NotATensor:
    """Something weights_only=True refuses to unpickle."""


def test_weights_only_refusal_is_explained(published, tmp_path):
    state = torch.load(published['ckpt'], weights_only=True)
    state['extra'] = _NotATensor()
    odd = str(tmp_path / 'odd.tar')
    torch.save(state, odd)
    with pytest.raises(RuntimeError, match='allow_unsafe_load=True'):
        T2MEvaluator(checkpoint=odd, mean_std_dir=published['meta'])
    ev = T2MEvaluator(checkpoint=odd, mean_std_dir=published['meta'], allow_unsafe_load=True)
    assert ev.epoch == 7


def test_missing_files_raise_file_not_found(published, tmp_path):
    with pytest.raises(FileNotFoundError, match='text_mot_match/model/finest.tar'):
        T2MEvaluator(checkpoint=str(tmp_path / 'nope.tar'))
    with pytest.raises(FileNotFoundError, match='GloVe vectors our_vab_data.npy'):
        T2MEvaluator(glove_dir=str(tmp_path))
    partial = tmp_path / 'glove'
    _write_glove(str(partial))
    os.remove(partial / 'our_vab_idx.pkl')
    with pytest.raises(FileNotFoundError, match='our_vab_idx.pkl'):
        T2MEvaluator(glove_dir=str(partial))
    with pytest.raises(FileNotFoundError, match='mean.npy and std.npy'):
        T2MEvaluator(mean_std_dir=str(tmp_path))
    lonely = tmp_path / 't2m' / 'text_mot_match' / 'model' / 'finest.tar'
    lonely.parent.mkdir(parents=True)
    os.symlink(published['ckpt'], lonely)
    with pytest.raises(FileNotFoundError, match='Comp_v6_KLD01'):
        T2MEvaluator(checkpoint=str(lonely))
    with pytest.raises(RuntimeError, match='pass glove_dir'):
        T2MEvaluator().encode_text(['a man walks'])


def test_dataset_layout_mean_std_and_shape_checks(tmp_path):
    _write_mean_std(str(tmp_path / 'hml'), 263, names=('Mean.npy', 'Std.npy'))
    ev = T2MEvaluator(mean_std_dir=str(tmp_path / 'hml'))
    assert ev.mean_file.endswith('Mean.npy')
    with pytest.raises(ValueError, match=r"expected \(251,\) for dataset 'kit'"):
        T2MEvaluator(dataset='kit', mean_std_dir=str(tmp_path / 'hml'))
    with pytest.raises(ValueError, match='unknown dataset'):
        T2MEvaluator(dataset='babel')
    with pytest.raises(ValueError, match='both mean_file and std_file'):
        T2MEvaluator(mean_file=str(tmp_path / 'hml' / 'Mean.npy'))


def test_kit_variant(tmp_path):
    _write_mean_std(str(tmp_path / 'kit'), 251)
    ev = T2MEvaluator(dataset='kit', mean_std_dir=str(tmp_path / 'kit'))
    assert ev.feature_dim == 251
    assert tuple(ev.movement_encoder.main[0].weight.shape) == (512, 247, 4)
    motion, lengths = _motions([24, 90], dim=251)
    assert ev.encode_motion(motion, lengths).shape == (2, 512)
    with pytest.raises(ValueError, match=r'\(B, T, 251\)'):
        ev.encode_motion(torch.zeros(1, 40, 263), torch.tensor([40]))


def test_tokens_and_plain_text_paths(loaded):
    plain = loaded.encode_text(TEXTS)
    as_tokens = [simple_tokenize(t) for t in TEXTS]
    assert as_tokens[0][:3] == ['a/OTHER', 'man/OTHER', 'kicks/OTHER']
    torch.testing.assert_close(loaded.encode_text(TEXTS, as_tokens), plain)
    tagged = [['a/DET', 'man/NOUN', 'kick/VERB', 'with/ADP', 'his/DET', 'left/ADJ', 'leg/NOUN']]
    emb = loaded.encode_text(['ignored when tokens are given'], tagged)
    torch.testing.assert_close(loaded.encode_text(['x'], [' '.join(tagged[0])]), emb)
    # the POS tag matters for ordinary words, not for VIP words
    retag = [['a/DET', 'man/VERB'] + tagged[0][2:]]
    assert not torch.allclose(loaded.encode_text(['x'], retag), emb, atol=1e-5)
    vip = [tagged[0][:2] + ['kick/NOUN', 'with/ADP', 'his/DET', 'left/NOUN', 'leg/VERB']]
    torch.testing.assert_close(loaded.encode_text(['x'], vip), emb)
    with pytest.raises(ValueError, match='2 token lists for 1 texts'):
        loaded.encode_text(['x'], tagged * 2)


def test_word_vectorizer_rules(published, loaded):
    vec = WordVectorizer(published['glove'])
    vectors = published['vectors']
    assert len(vec) == len(WORDS) and 'kick' in vec and vec.dim == 300
    word, pos = vec['man/NOUN']
    np.testing.assert_array_equal(word, vectors['man'])
    assert pos.argmax() == POS_ENUMERATOR['NOUN'] and pos.sum() == 1
    assert vec['kick/VERB'][1].argmax() == POS_ENUMERATOR['Act_VIP']
    assert vec['left/ADJ'][1].argmax() == POS_ENUMERATOR['Loc_VIP']
    assert vec['leg/NOUN'][1].argmax() == POS_ENUMERATOR['Body_VIP']
    assert vec['and/CCONJ'][1].argmax() == POS_ENUMERATOR['OTHER']
    # unknown words -> the unk vector with POS OTHER, even if they are VIP-listed
    for token in ('zebra/NOUN', 'chair/NOUN', 'nothing'):
        word, pos = vec[token]
        np.testing.assert_array_equal(word, vectors['unk'])
        assert pos.argmax() == POS_ENUMERATOR['OTHER']
    torch.testing.assert_close(loaded.encode_text(['x'], [['zebra/NOUN', 'man/NOUN']]),
                               loaded.encode_text(['x'], [['qwerty/VERB', 'man/NOUN']]))
    # sos/eos framing, unk padding, crop at max_text_len
    words, pos, n = vec.process_tokens(['man/NOUN', 'walk/VERB'])
    assert words.shape == (22, 300) and pos.shape == (22, 15) and n == 4
    np.testing.assert_array_equal(words[0], vectors['sos'])
    np.testing.assert_array_equal(words[3], vectors['eos'])
    np.testing.assert_array_equal(words[4:], np.repeat(vectors['unk'][None], 18, 0))
    words, _, n = vec.process_tokens(['man/NOUN'] * 30)
    assert n == 22 and words.shape == (22, 300)
    np.testing.assert_array_equal(words[21], vectors['eos'])


def test_real_humanml3d_sample(humanml3d_samples, motion_data_root, published, tmp_path):
    hml = osp.join(motion_data_root, 'humanml3d')
    if not all(osp.isfile(osp.join(hml, n)) for n in ('Mean.npy', 'Std.npy')):
        pytest.skip(f'HumanML3D Mean.npy/Std.npy missing in {hml}')
    motion = np.load(osp.join(humanml3d_samples, 'new_joint_vecs', '000000.npy'))
    assert motion.ndim == 2 and motion.shape[1] == 263
    ev = T2MEvaluator(checkpoint=published['ckpt'], glove_dir=published['glove'],
                      mean_std_dir=hml)
    x = torch.from_numpy(motion).float()[None]
    n = torch.tensor([len(motion)])
    emb = ev.encode_motion(x, n)
    assert emb.shape == (1, 512) and torch.isfinite(emb).all()
    padded = torch.cat([x, torch.zeros(1, 50, 263)], 1)
    torch.testing.assert_close(ev.encode_motion(padded, n), emb, atol=1e-5, rtol=1e-5)
    with open(osp.join(humanml3d_samples, 'texts', '000000.txt')) as f:
        caption, tokens = f.readline().strip().split('#')[:2]
    txt = ev.encode_text([caption], [tokens.split(' ')])
    assert txt.shape == (1, 512) and torch.isfinite(txt).all()
