"""Our date and number formats per language (FORMAT_MODULE_PATH): Chilean under es, 24-hour times under en.

Django looks for `es_CL` then `es` for es-cl, so `es` covers every Spanish the pages use.
"""
