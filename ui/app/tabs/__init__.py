"""One module per tab of the web app; each has ``build(client)``, called inside ``gr.Tab``."""
