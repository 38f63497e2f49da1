"""The subcommands of ``python -m minidl``: one module each, with add_arguments() and run()."""
