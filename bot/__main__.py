from bot.ui.cli import main

main()
