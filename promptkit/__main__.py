"""``python -m promptkit`` runs the ``promptkit`` command; so does ``torchrun ... -m promptkit``.

torchrun starts each process with ``python -m <module>``: this entry point is what makes
``torchrun --nproc_per_node N -m promptkit train ...`` the same command as ``promptkit train ...``
(see promptkit.distributed). The one module of the core that imports the CLI: it is the command.
"""

from promptkit.cli.app import main

if __name__ == "__main__":
    main()
