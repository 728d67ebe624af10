from recompense.cli.app import main

main()
