from .cli import main  # python -m tutorial_utils.io: the data command (see --help)

raise SystemExit(main())
