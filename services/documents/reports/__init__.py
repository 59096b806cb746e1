"""Reports as PDFs (WeasyPrint): the safe engine (`render`) and one module per report (`incident`).

A report is a Jinja template in `templates/`, filled from what the incidents service answered, laid out
by `report.css`. Everything in it comes from our templates and our stylesheet; the record's text is
only ever text. The engine fetches nothing, whatever a template or a record asks for.
"""
