"""mdkit registries: scopes, parents, locations, and the helpful build errors."""
import importlib
import importlib.util

import mmengine.registry as mm_registry
import pytest
from mmengine.registry import DefaultScope, Registry

from mdkit.registry import ALL_REGISTRIES, DATASETS, GUIDANCE, MODELS, OPTIM_WRAPPERS
from mdkit.utils import (
    UnexpectedConfigKeyError,
    UnregisteredTypeError,
    build_from_cfg_checked,
    register_all_modules,
)
from mdkit.utils.registry_utils import (
    explain_unexpected_kwarg,
    find_registry,
    init_param_names,
    registry_cli_name,
)
from mdkit.utils.setup_env import import_module_if_exists, registry_locations

PARENTLESS = {'DIFFUSION_SCHEDULERS', 'GUIDANCE', 'MOTION_CODECS'}


def _module_exists(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package does not exist yet
        return False


@pytest.mark.parametrize('key', sorted(ALL_REGISTRIES))
def test_scope_and_parent(key):
    registry = ALL_REGISTRIES[key]
    assert registry.scope == 'mdkit'
    if key in PARENTLESS:
        assert registry.parent is None
    else:
        assert registry.parent is getattr(mm_registry, key)
        assert registry.parent.scope == 'mmengine'
        assert registry.parent._children['mdkit'] is registry


def test_every_mmengine_registry_has_an_mdkit_child():
    roots = {name for name, obj in vars(mm_registry).items()
             if isinstance(obj, Registry) and obj.parent is None and obj.scope == 'mmengine'}
    assert roots, 'found no mmengine root registries'
    assert roots <= set(ALL_REGISTRIES), roots - set(ALL_REGISTRIES)


@pytest.mark.parametrize('location', registry_locations())
def test_location_imports(location):
    if not _module_exists(location):
        pytest.skip(f'{location} does not exist yet')
    importlib.import_module(location)


def test_register_all_modules_sets_scope_and_imports_engine():
    imported = register_all_modules()
    assert 'mdkit.engine' in imported
    assert set(imported) <= set(registry_locations())
    assert DefaultScope.get_current_instance().scope_name == 'mdkit'
    assert OPTIM_WRAPPERS.get('BF16OptimWrapper') is not None
    register_all_modules()  # idempotent, no warning (pytest turns warnings into errors)


def test_register_all_modules_takes_over_another_scope():
    import time

    DefaultScope.get_instance(f'test-other-scope-{time.time_ns()}', scope_name='mmengine')
    assert DefaultScope.get_current_instance().scope_name == 'mmengine'
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mdkit'
    register_all_modules(init_default_scope=False)
    assert DefaultScope.get_current_instance().scope_name == 'mdkit'


def test_missing_modules_skip_but_broken_modules_raise(tmp_path, monkeypatch):
    assert import_module_if_exists('mdkit._no_such_module') is False
    assert import_module_if_exists('mdkit._no_such_pkg.sub') is False
    pkg = tmp_path / 'mdkit_broken_plugin_for_test'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('import mdkit._no_such_module_either\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        import_module_if_exists('mdkit_broken_plugin_for_test')
    import mdkit.utils.setup_env as setup_env
    monkeypatch.setattr(setup_env, 'registry_locations',
                        lambda: ['mdkit.engine', 'mdkit_broken_plugin_for_test'])
    with pytest.raises(ModuleNotFoundError, match='_no_such_module_either'):
        setup_env.register_all_modules(init_default_scope=False)


@pytest.fixture
def registered():
    """Register test-only classes under unique names; remove them afterwards."""
    register_all_modules()
    added = []

    def add(registry, cls):
        registry.register_module(module=cls, force=True)
        added.append((registry, cls.__name__))
        return cls

    yield add
    for registry, name in added:
        registry._module_dict.pop(name, None)


def test_typo_suggests_close_name(registered):
    class RegTestMotionFolderDataset:
        def __init__(self, root=''):
            self.root = root

    registered(DATASETS, RegTestMotionFolderDataset)
    with pytest.raises(KeyError) as info:
        build_from_cfg_checked(dict(type='RegTestMotionFolderDatset'), DATASETS)
    assert isinstance(info.value, UnregisteredTypeError)
    msg = str(info.value)
    assert "'RegTestMotionFolderDatset' is not registered in mdkit registry 'dataset'" in msg
    assert "Did you mean 'RegTestMotionFolderDataset'" in msg
    assert 'python tools/misc/list_modules.py --registry dataset' in msg
    built = build_from_cfg_checked(dict(type='RegTestMotionFolderDataset', root='x'), DATASETS)
    assert built.root == 'x'


def test_typo_suggests_parent_names_and_parentless_registries():
    register_all_modules()
    with pytest.raises(UnregisteredTypeError, match="Did you mean 'AmpOptimWrapper'"):
        build_from_cfg_checked(dict(type='AmpOptimWraper'), OPTIM_WRAPPERS)
    with pytest.raises(UnregisteredTypeError, match="registry 'guidance'") as info:
        build_from_cfg_checked(dict(type='NoSuchGuidanceXyz'), GUIDANCE)
    assert 'nor in its parent' not in str(info.value)


def test_wrong_kwarg_names_the_bad_key(registered):
    class RegTestTinyFusion:
        def __init__(self, hidden_dim=8, num_heads=2):
            self.hidden_dim = hidden_dim

    registered(MODELS, RegTestTinyFusion)
    with pytest.raises(TypeError) as info:
        build_from_cfg_checked(dict(type='RegTestTinyFusion', hiden_dim=4), MODELS)
    err = info.value
    assert isinstance(err, UnexpectedConfigKeyError)
    assert (err.cls_name, err.key, err.suggestions[0]) == ('RegTestTinyFusion', 'hiden_dim',
                                                            'hidden_dim')
    assert 'RegTestTinyFusion' in str(err) and "'hiden_dim'" in str(err)
    assert "Did you mean 'hidden_dim'" in str(err)


def test_wrong_kwarg_in_nested_build_is_not_blamed_on_outer():
    class Outer:
        def __init__(self, inner=None):
            pass

    err = TypeError("class `Outer` in m: Inner.__init__() got an unexpected keyword "
                    "argument 'inner'")
    assert explain_unexpected_kwarg(err, Outer) is None
    assert explain_unexpected_kwarg(ValueError('x'), Outer) is None


def test_init_param_names_follows_kwargs_to_base_class():
    from mdkit.engine import BF16OptimWrapper

    names = init_param_names(BF16OptimWrapper)
    assert {'device_type', 'enabled', 'optimizer', 'clip_grad'} <= set(names)
    assert 'self' not in names and 'kwargs' not in names


def test_expected_type_mismatch(registered):
    class RegTestNotAModule:
        pass

    registered(MODELS, RegTestNotAModule)
    import torch

    with pytest.raises(TypeError, match='RegTestNotAModule.*Module was expected'):
        build_from_cfg_checked(dict(type='RegTestNotAModule'), MODELS,
                               expected_type=torch.nn.Module)


def test_cfg_must_be_mapping_with_type():
    with pytest.raises(TypeError):
        build_from_cfg_checked(['type', 'X'], MODELS)
    with pytest.raises(KeyError, match='no "type"'):
        build_from_cfg_checked(dict(a=1), MODELS)


def test_find_registry_by_any_name():
    assert find_registry('optim_wrapper')[1] is OPTIM_WRAPPERS
    assert find_registry('OPTIM_WRAPPERS')[1] is OPTIM_WRAPPERS
    assert find_registry('optim wrapper')[1] is OPTIM_WRAPPERS
    assert registry_cli_name(OPTIM_WRAPPERS) == 'optim_wrapper'
    with pytest.raises(KeyError, match='Valid registries: .*dataset'):
        find_registry('datasett_registry')
