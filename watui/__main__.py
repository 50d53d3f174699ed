from watui.cli import run

run()
