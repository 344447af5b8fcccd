from flowfleet.cli import main

main()
