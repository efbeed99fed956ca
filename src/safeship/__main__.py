from safeship.cli.entry import run

run()
