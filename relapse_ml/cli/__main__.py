from relapse_ml.cli import main

main()
