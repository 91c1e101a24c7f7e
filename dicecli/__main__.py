"""``python -m dicecli`` runs the ``dice`` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="dice")
