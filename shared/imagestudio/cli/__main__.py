"""``python -m imagestudio.cli``: what ``imagestudio up`` runs its relay process with."""

from imagestudio.cli import app

if __name__ == "__main__":  # not when merely imported (a walk over every module)
    app()
