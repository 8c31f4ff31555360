"""Layer import and export: files, readers in a child process, bulk loading, OpenStreetMap extracts.

Empty on purpose: importing ``gis.io`` loads nothing heavy. geopandas, pandas, pyarrow, pyogrio and osmium load
with the modules that need them, which only an import or export reaches (through ``gis.service``).
"""
