"""Place search: the names of the imported map (streets, places, facilities, addresses, stations) made searchable
by characters, pinyin, English and traditional characters, and crossings of two streets."""
