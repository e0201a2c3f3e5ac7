"""Install mdkit: ``pip install -e .`` (see README.md for the pinned command)."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Return the requirement lines of ``requirements/<name>.txt``."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = [ln.split('#')[0].strip() for ln in f]
    return [ln for ln in lines if ln]


def read_version():
    """Read ``__version__`` from ``mdkit/version.py`` without importing it."""
    scope = {}
    with open(osp.join(HERE, 'mdkit', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mdkit',
    version=read_version(),
    description='Registry-based toolkit for text- and video-conditioned '
    '3D human motion generation (MotionDuet and baselines).',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    install_requires=read_requirements('runtime'),
    extras_require={'tests': read_requirements('tests')},
    zip_safe=False,
)
