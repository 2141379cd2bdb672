from mlapp.cli import main

main()
