"""`ganforge serve`: explore a network in the browser (the `serve` extra, Gradio).

`Explorer` (explorer.py) holds the network and makes the images; `app.py` lays them out as a page;
`server.start` serves it. Only the network named on the command line is ever loaded.
"""
