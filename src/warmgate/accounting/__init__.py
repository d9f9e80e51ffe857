"""Cost accounting: provider prices per model and what each request cost and saved. Pure, no I/O
except reading the packaged price table once (`prices.load_prices`)."""
