from raytl.cli import main

main()
