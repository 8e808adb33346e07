from sftwise.cli import main

main()
