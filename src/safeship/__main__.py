from safeship.cli.main import run

run()
