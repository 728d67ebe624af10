from recompense.cli.main import main

main()
