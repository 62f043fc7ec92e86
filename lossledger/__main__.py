from lossledger.cli import main

main()
