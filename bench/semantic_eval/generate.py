"""Seeded generator of labelled request pairs for the semantic-cache evaluation.

    python bench/semantic_eval/generate.py            # writes bench/semantic_eval/data/generated.jsonl

A pair is request A (cached first) and request B (looked up after). `label` says what the cache
should do with B: `hit` (a paraphrase: serving A's answer is right) or `trap` (serving it is wrong).
Trap kinds: negation, numbers, entities, scope, multi_turn, system_prompt, tenant (the issue's), plus
antonyms, dates, units, quoted. Each side is {tenant, system, history: [[role, text]...], text}; the
evaluation turns it into a chat, responses or messages body (`endpoint`).

The templates are families of questions with several wordings each; a paraphrase pair takes two
wordings of the same filled family, a trap changes one thing (a name, a number, a negation...) and
often the wording too, so the trap is as close in meaning as a real one. About a quarter of the
entity traps are all lower case, as users type: the lexical guard cannot see names there, only
the embedding can. The output is committed; regenerate only on purpose (the seed is fixed).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

SEED = 20261202
OUT = Path(__file__).parent / "data" / "generated.jsonl"

LANGS = ["Python", "JavaScript", "Java", "Go", "Rust", "C#", "C++", "Ruby", "PHP", "Kotlin", "Swift", "TypeScript",
         "Scala", "Perl", "Haskell", "Elixir", "Julia", "Dart", "Lua", "Bash"]
TASKS = ["reverse a list", "sort a dictionary by value", "read a CSV file", "remove duplicates from an array",
         "merge two sorted arrays", "parse a JSON string", "check if a string is a palindrome",
         "convert a string to lowercase", "split a string by commas", "get the current date", "generate a random number",
         "catch an exception", "write to a text file", "make an HTTP request", "flatten a nested list",
         "count word frequencies in a text", "iterate over a dictionary", "check whether a file exists",
         "read user input from the console", "define a class with a constructor", "sort a list of objects by a field",
         "compute the factorial of a number recursively", "pad a string with zeros", "measure how long a function takes"]
HOWTO = ["How do I {task} in {lang}?", "What's the best way to {task} in {lang}?", "In {lang}, how can I {task}?",
         "How can I {task} using {lang}?", "Show me how to {task} in {lang}.", "Can you explain how to {task} in {lang}?",
         "how to {task} in {lang}", "What is the easiest way to {task} in {lang}?", "I need to {task} in {lang}. How?"]
HOWTO_WITH = ["How do I {task} in {lang} using a loop?", "In {lang}, how can I {task} with a loop?",
              "What's the way to {task} in {lang} using a loop?"]
HOWTO_WITHOUT = ["How do I {task} in {lang} without using a loop?", "In {lang}, how can I {task} without a loop?",
                 "What's the way to {task} in {lang} without using a loop?"]

COUNTRIES = ["France", "Germany", "Italy", "Spain", "Portugal", "Japan", "China", "India", "Brazil", "Argentina",
             "Canada", "Mexico", "Australia", "Egypt", "Kenya", "Nigeria", "Norway", "Sweden", "Finland", "Poland",
             "Greece", "Turkey", "Vietnam", "Thailand", "Peru", "Chile", "Colombia", "Ireland", "Austria", "Hungary",
             "Morocco", "Indonesia", "Pakistan", "Iran", "Ukraine", "Belgium", "Denmark", "Switzerland"]
CAPITAL = ["What is the capital of {c}?", "Tell me the capital of {c}.", "Which city is the capital of {c}?",
           "What's {c}'s capital city?", "capital of {c}?", "Name the capital city of {c}.",
           "What city is the capital of {c}?", "Do you know the capital of {c}?"]
CITIES = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Toronto", "Sydney", "Chicago", "Boston", "Seattle",
          "Mumbai", "Cairo", "Lagos", "Lisbon", "Vienna", "Prague", "Warsaw", "Dublin", "Oslo", "Stockholm", "Helsinki",
          "Athens", "Istanbul", "Bangkok", "Hanoi", "Lima", "Santiago", "Denver", "Austin", "Miami", "Montreal"]
POPULATION = ["What is the population of {city}?", "How many people live in {city}?",
              "What's the current population of {city}?", "How populous is {city}?",
              "Roughly how many residents does {city} have?", "population of {city}?"]
BOOKS = ["Pride and Prejudice", "Moby Dick", "War and Peace", "The Great Gatsby", "Don Quixote", "Hamlet", "Ulysses",
         "Dracula", "Frankenstein", "Jane Eyre", "The Odyssey", "Middlemarch", "Beloved", "Emma", "Dune", "Walden",
         "Persuasion", "Invisible Man", "Wuthering Heights", "Great Expectations", "The Hobbit", "Anna Karenina"]
AUTHOR = ["Who wrote {b}?", "Who is the author of {b}?", "Who was {b} written by?", "Which author wrote {b}?",
          "Tell me who wrote {b}.", "Who's the writer of {b}?"]
UNITS = [("kilometers", "miles"), ("miles", "kilometers"), ("pounds", "kilograms"), ("kilograms", "pounds"),
         ("feet", "meters"), ("meters", "feet"), ("inches", "centimeters"), ("liters", "gallons"),
         ("ounces", "grams"), ("hours", "minutes"), ("megabytes", "gigabytes"), ("dollars", "euros"),
         ("degrees celsius", "degrees fahrenheit"), ("yards", "meters"), ("acres", "hectares")]
SAME_KIND = {"miles": ["meters", "feet", "yards"], "kilometers": ["meters", "feet", "yards"],
             "kilograms": ["grams", "ounces", "stones"], "pounds": ["grams", "ounces", "stones"],
             "meters": ["inches", "yards", "centimeters"], "feet": ["inches", "yards", "centimeters"],
             "centimeters": ["millimeters", "feet", "meters"], "gallons": ["milliliters", "pints", "quarts"],
             "grams": ["pounds", "kilograms", "milligrams"], "minutes": ["seconds", "days", "weeks"],
             "gigabytes": ["kilobytes", "terabytes", "bytes"], "euros": ["pounds sterling", "yen", "pesos"],
             "degrees fahrenheit": ["kelvin", "degrees rankine"], "hectares": ["square meters", "square miles"]}
CONVERT = ["Convert {n} {u1} to {u2}.", "How many {u2} is {n} {u1}?", "What is {n} {u1} in {u2}?",
           "{n} {u1} equals how many {u2}?", "Please convert {n} {u1} into {u2}.", "{n} {u1} to {u2}"]
NUMBERS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 120, 150, 200, 250, 500, 1000]
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten",
         12: "twelve", 20: "twenty"}
TOPICS = ["a birthday party", "a team-building event", "a science fair project", "a blog post about cooking",
          "a weekend trip", "a company name", "a rainy day at home", "a date night", "a fantasy novel",
          "a mobile app", "a podcast episode", "a small garden", "healthy breakfasts", "a retirement gift",
          "a kids' craft afternoon", "a newsletter headline", "a workout routine", "a family reunion"]
IDEAS = ["Give me {n} ideas for {t}.", "Suggest {n} ideas for {t}.", "List {n} ideas for {t}.",
         "Can you come up with {n} ideas for {t}?", "I need {n} ideas for {t}.", "Brainstorm {n} ideas for {t}."]
DIFF_PAIRS = [("TCP", "UDP"), ("RAM", "ROM"), ("HTTP", "HTTPS"), ("SQL", "NoSQL"), ("a virus", "a bacterium"),
              ("weather", "climate"), ("stocks", "bonds"), ("affect", "effect"), ("a crocodile", "an alligator"),
              ("machine learning", "deep learning"), ("a list", "a tuple"), ("Git", "GitHub"),
              ("Docker", "a virtual machine"), ("mitosis", "meiosis"), ("speed", "velocity"),
              ("empathy", "sympathy"), ("latitude", "longitude"), ("a hurricane", "a typhoon"),
              ("baking soda", "baking powder"), ("a comet", "an asteroid"), ("a lake", "a pond"),
              ("React", "Angular"), ("Linux", "Unix"), ("a Roth IRA", "a traditional IRA")]
DIFF = ["What is the difference between {x} and {y}?", "How does {x} differ from {y}?",
        "{x} vs {y}: what's the difference?", "Explain the difference between {x} and {y}.",
        "What distinguishes {x} from {y}?", "How are {x} and {y} different?"]
PHRASES = ["good morning", "thank you very much", "where is the train station", "I love you", "happy birthday",
           "how much does this cost", "I am hungry", "nice to meet you", "excuse me", "good night",
           "the bill, please", "I don't understand", "where is the bathroom", "I am lost", "congratulations"]
LANGUAGES = ["Spanish", "French", "German", "Italian", "Japanese", "Portuguese", "Korean", "Dutch", "Swedish",
             "Turkish", "Polish", "Greek", "Hindi", "Arabic", "Russian", "Mandarin"]
TRANSLATE = ["Translate '{p}' into {lang}.", "How do you say '{p}' in {lang}?", "What is '{p}' in {lang}?",
             "Can you translate '{p}' to {lang}?", "'{p}' in {lang}, please."]
NUTRIENTS = ["gluten", "lactose", "caffeine", "added sugar", "soy", "sodium", "cholesterol", "dairy", "eggs", "nuts"]
FOODS_WITH = ["Which foods contain {x}?", "What foods have {x} in them?", "List foods that contain {x}.",
              "Name some foods with {x}."]
FOODS_WITHOUT = ["Which foods don't contain {x}?", "What foods have no {x} in them?",
                 "List foods that do not contain {x}.", "Name some foods without {x}."]
ACTIONS = ["drink water before bed", "stretch every morning", "charge my phone overnight", "pay my credit card bill",
           "update my operating system", "get a flu shot", "water my cactus", "back up my files",
           "change my car's oil", "wear sunscreen", "warm up before running", "defragment my hard drive",
           "rinse rice before cooking", "refrigerate tomatoes", "turn off my router at night"]
WHAT_IF = ["What happens if I {a}?", "What will happen if I {a}?", "What are the effects if I {a}?",
           "If I {a}, what happens?"]
WHAT_IF_NOT = ["What happens if I don't {a}?", "What will happen if I do not {a}?", "What are the effects if I never {a}?",
               "If I don't {a}, what happens?"]
SHOULD = ["Should I {a}?", "Is it a good idea to {a}?", "Do you think I should {a}?"]
SHOULD_NOT = ["Should I not {a}?", "Is it a good idea not to {a}?", "Do you think I shouldn't {a}?"]
ITEMS = [("files", "this folder"), ("emails", "my inbox"), ("photos", "the album"), ("rows", "the table"),
         ("branches", "the repository"), ("containers", "the cluster"), ("messages", "the chat"),
         ("tasks", "the project board"), ("contacts", "my address book"), ("comments", "the document"),
         ("tabs", "the browser window"), ("subscribers", "the mailing list")]
ADJS = ["old", "empty", "duplicate", "unread", "hidden", "large", "archived", "inactive", "temporary"]
DELETE_ALL = ["Delete all the {i} in {p}.", "Remove every one of the {i} in {p}.", "How do I delete all {i} in {p}?",
              "Get rid of all the {i} in {p}."]
DELETE_SCOPED = ["Delete only the {adj} {i} in {p}.", "Delete all the {i} in {p} except the {adj} ones.",
                 "Delete some of the {i} in {p}.", "Remove just the {adj} {i} in {p}.",
                 "How do I delete all {i} in {p} excluding the {adj} ones?"]
GROUPS = [("mushrooms", "edible"), ("snakes", "venomous"), ("spiders", "poisonous"), ("birds", "able to fly"),
          ("metals", "magnetic"), ("prime numbers", "odd"), ("cats", "lactose intolerant"), ("plastics", "recyclable"),
          ("bacteria", "harmful"), ("sharks", "dangerous to humans"), ("volcanoes", "active"), ("bees", "able to sting")]
ALL_ARE = ["Are all {g} {p}?", "Is every kind of {g} {p}?", "Are {g} always {p}?"]
SOME_ARE = ["Are only some {g} {p}?", "Are some {g} {p}?", "Which {g} are {p}, only a few?", "Are most {g} {p}?"]
ANTONYM_VERBS = [("enable", "disable"), ("install", "uninstall"), ("lock", "unlock"), ("show", "hide"),
                 ("encrypt", "decrypt"), ("mount", "unmount"), ("import", "export"), ("upload", "download"),
                 ("compress", "decompress"), ("subscribe to", "unsubscribe from"), ("connect to", "disconnect from")]
OBJECTS = {"enable": ["dark mode", "two-factor authentication", "location services", "automatic updates",
                      "the firewall", "notifications", "autocorrect", "SSH access"],
           "install": ["a printer driver", "the latest updates", "a VPN client", "Node"],
           "lock": ["the screen", "a folder", "my SIM card", "a cell in a spreadsheet"],
           "show": ["hidden files", "the taskbar", "file extensions", "the bookmarks bar"],
           "encrypt": ["a file", "a USB drive", "my emails", "a zip archive"],
           "mount": ["a network drive", "an ISO image", "an external disk"],
           "import": ["my contacts", "bookmarks", "a spreadsheet", "calendar events"],
           "upload": ["photos", "a large file", "my music library", "a backup"],
           "compress": ["a folder", "a video", "a PDF", "images"],
           "subscribe to": ["a newsletter", "a calendar", "a podcast", "a channel"],
           "connect to": ["a Wi-Fi network", "a VPN", "a remote server", "a Bluetooth speaker"]}
PLATFORMS = ["Windows", "macOS", "Ubuntu", "Android", "an iPhone", "Chrome", "Firefox", "Outlook", "Slack", "Zoom"]
VERB_FORMS = ["How do I {v} {o} on {pl}?", "What are the steps to {v} {o} on {pl}?", "How can I {v} {o} on {pl}?",
              "On {pl}, how do you {v} {o}?", "Walk me through how to {v} {o} on {pl}."]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "today", "tomorrow",
        "the weekend"]
WEATHER = ["What's the weather forecast for {city} on {d}?", "Will it rain in {city} on {d}?",
           "How is the weather in {city} going to be on {d}?", "What will the weather be like in {city} on {d}?"]
MONTHS = ["January", "February", "March", "April", "June", "July", "August", "September", "October", "November",
          "December"]
VISIT = ["Is {city} a good place to visit in {m}?", "Should I visit {city} in {m}?",
         "What's {city} like to visit in {m}?", "Is {m} a good time to travel to {city}?"]
CONCEPTS = ["photosynthesis", "inflation", "blockchain", "quantum entanglement", "the greenhouse effect",
            "compound interest", "recursion", "natural selection", "supply and demand", "public key cryptography",
            "black holes", "the immune system", "plate tectonics", "neural networks", "the stock market", "vaccines",
            "the water cycle", "general relativity", "cloud computing", "interest rates", "dark matter",
            "the placebo effect", "opportunity cost", "entropy"]
EXPLAIN = ["Explain {x} in simple terms.", "Can you explain {x} simply?", "What is {x}? Explain it simply.",
           "Give me a simple explanation of {x}.", "Help me understand {x}.", "explain {x} like I'm a beginner",
           "Describe {x} in plain language.", "I don't get {x}, can you explain it simply?"]
POEM_FORMS = ["poem", "haiku", "short story", "limerick", "song", "toast", "riddle"]
POEM_TOPICS = ["the ocean", "autumn leaves", "a lost cat", "friendship", "coffee", "the moon", "a robot",
               "city life", "a rainy afternoon", "mountains", "a lighthouse", "homemade bread"]
WRITE = ["Write a {f} about {t}.", "Compose a {f} about {t}.", "Can you write me a {f} about {t}?",
         "I'd like a {f} about {t}.", "Please write a {f} on the topic of {t}."]
SYSTEMS = ["You are a helpful assistant.", "You are a helpful assistant. Answer in French.",
           "You are a pirate. Stay in character.", "You are a senior software engineer. Be concise.",
           "You are a children's tutor. Use simple words.", "Answer in at most one sentence.",
           "You are a legal assistant for Acme Corp.", "Reply only with JSON.", None]
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"]
HISTORY_OPENERS = ["I'm writing {lang} code.", "I'm working on a {lang} project.", "My team uses {lang}."]
HISTORY_REPLIES = ["Great, what do you need help with?", "Sure, ask away.", "Happy to help with that."]
FOLLOWUPS = [("How do I {task}?", "What's the best way to {task}?"), ("How can I {task}?", "how to {task}"),
             ("Show me how to {task}.", "Can you explain how to {task}?")]
ENDPOINTS = ["chat.completions", "messages", "responses"]


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.n = 0
        self.seen: set[tuple[str, str, str]] = set()
        self.out: list[dict[str, Any]] = []

    def two(self, forms: list[str]) -> tuple[str, str]:
        a, b = self.r.sample(forms, 2)
        return a, b

    def side(self, text: str, tenant: str = "acme", system: str | None = None, history: list[list[str]] | None = None
             ) -> dict[str, Any]:
        return {"tenant": tenant, "system": system, "history": history or [], "text": text}

    def add(self, kind: str, a: dict[str, Any] | str, b: dict[str, Any] | str, system: str | None = None) -> bool:
        if isinstance(a, str):
            a = self.side(a, system=system)
        if isinstance(b, str):
            b = self.side(b, system=system)
        sig = (kind, json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True))
        if sig in self.seen or (kind not in ("paraphrase", "multi_turn", "system_prompt", "tenant") and a == b):
            return False
        self.seen.add(sig)
        self.n += 1
        self.out.append({"id": f"g{self.n:05d}", "kind": kind, "label": "hit" if kind == "paraphrase" else "trap",
                         "endpoint": self.r.choice(ENDPOINTS), "a": a, "b": b})
        return True

    def system(self) -> str | None:
        return self.r.choice(SYSTEMS)

    def num(self, n: int) -> str:
        return WORDS[n] if n in WORDS and self.r.random() < 0.3 else str(n)

    def maybe_lower(self, a: str, b: str, share: float) -> tuple[str, str]:
        return (a.lower(), b.lower()) if self.r.random() < share else (a, b)

    # -- one filled family: (a random wording, another wording) of the same request -----------

    def paraphrase(self) -> tuple[str, str]:
        r = self.r
        family = r.randrange(11)
        if family == 0:
            f1, f2 = self.two(HOWTO)
            kw = {"task": r.choice(TASKS), "lang": r.choice(LANGS)}
        elif family == 1:
            f1, f2 = self.two(CAPITAL)
            kw = {"c": r.choice(COUNTRIES)}
        elif family == 2:
            f1, f2 = self.two(POPULATION)
            kw = {"city": r.choice(CITIES)}
        elif family == 3:
            f1, f2 = self.two(AUTHOR)
            kw = {"b": r.choice(BOOKS)}
        elif family == 4:
            f1, f2 = self.two(CONVERT)
            u1, u2 = r.choice(UNITS)
            kw = {"n": str(r.choice(NUMBERS)), "u1": u1, "u2": u2}
        elif family == 5:
            f1, f2 = self.two(IDEAS)
            n = r.choice(NUMBERS[:12])
            kw = {"n": str(n), "t": r.choice(TOPICS)}
        elif family == 6:
            f1, f2 = self.two(DIFF)
            x, y = r.choice(DIFF_PAIRS)
            kw = {"x": x, "y": y}
        elif family == 7:
            f1, f2 = self.two(TRANSLATE)
            kw = {"p": r.choice(PHRASES), "lang": r.choice(LANGUAGES)}
        elif family == 8:
            f1, f2 = self.two(EXPLAIN)
            kw = {"x": r.choice(CONCEPTS)}
        elif family == 9:
            f1, f2 = self.two(WRITE)
            kw = {"f": r.choice(POEM_FORMS), "t": r.choice(POEM_TOPICS)}
        else:
            f1, f2 = self.two(WHAT_IF)
            kw = {"a": r.choice(ACTIONS)}
        return f1.format(**kw), f2.format(**kw)

    # -- traps ------------------------------------------------------------------------------------

    def entities(self) -> tuple[str, str]:
        r = self.r
        family = r.randrange(8)
        same = r.random() < 0.5

        def forms(fs: list[str]) -> tuple[str, str]:
            a = r.choice(fs)
            return (a, a) if same else self.two(fs)

        if family == 0:
            f1, f2 = forms(HOWTO)
            t = r.choice(TASKS)
            l1, l2 = r.sample(LANGS, 2)
            a, b = f1.format(task=t, lang=l1), f2.format(task=t, lang=l2)
        elif family == 1:
            f1, f2 = forms(CAPITAL)
            c1, c2 = r.sample(COUNTRIES, 2)
            a, b = f1.format(c=c1), f2.format(c=c2)
        elif family == 2:
            f1, f2 = forms(POPULATION)
            c1, c2 = r.sample(CITIES, 2)
            a, b = f1.format(city=c1), f2.format(city=c2)
        elif family == 3:
            f1, f2 = forms(AUTHOR)
            b1, b2 = r.sample(BOOKS, 2)
            a, b = f1.format(b=b1), f2.format(b=b2)
        elif family == 4:
            f1, f2 = forms(DIFF)
            (x, y1), (_, y2) = r.sample(DIFF_PAIRS, 2)
            a, b = f1.format(x=x, y=y1), f2.format(x=x, y=y2)
        elif family == 5:
            f1, f2 = forms(TRANSLATE)
            p = r.choice(PHRASES)
            l1, l2 = r.sample(LANGUAGES, 2)
            a, b = f1.format(p=p, lang=l1), f2.format(p=p, lang=l2)
        elif family == 6:
            f1, f2 = forms(EXPLAIN)
            x1, x2 = r.sample(CONCEPTS, 2)
            a, b = f1.format(x=x1), f2.format(x=x2)
        else:
            f1, f2 = forms(WRITE)
            t = r.choice(POEM_TOPICS)
            if r.random() < 0.5:
                p1, p2 = r.sample(POEM_FORMS, 2)
                a, b = f1.format(f=p1, t=t), f2.format(f=p2, t=t)
            else:
                p = r.choice(POEM_FORMS)
                t1, t2 = r.sample(POEM_TOPICS, 2)
                a, b = f1.format(f=p, t=t1), f2.format(f=p, t=t2)
        return self.maybe_lower(a, b, 0.25)

    def numbers(self) -> tuple[str, str]:
        r = self.r
        family = r.randrange(4)
        n1, n2 = r.sample(NUMBERS, 2)
        if family == 0:
            f1, f2 = self.two(CONVERT) if r.random() < 0.5 else (r.choice(CONVERT),) * 2
            u1, u2 = r.choice(UNITS)
            return f1.format(n=n1, u1=u1, u2=u2), f2.format(n=n2, u1=u1, u2=u2)
        if family == 1:
            f1, f2 = self.two(IDEAS) if r.random() < 0.5 else (r.choice(IDEAS),) * 2
            n1, n2 = r.sample(NUMBERS[:12], 2)
            t = r.choice(TOPICS)
            return f1.format(n=self.num(n1), t=t), f2.format(n=self.num(n2), t=t)
        if family == 2:
            forms = ["What is {n} squared?", "Calculate the square of {n}.", "Compute {n} squared.",
                     "Is {n} a prime number?", "Is {n} prime?", "What is {p}% of {n}?", "Calculate {p} percent of {n}."]
            f = r.choice(forms)
            p = r.choice([5, 10, 15, 20, 25])
            return f.format(n=n1, p=p), f.format(n=n2, p=p)
        forms = ["What happened in {y}?", "What were the major world events of {y}?", "Who won the World Cup in {y}?",
                 "What was the price of gold in {y}?", "Summarize the news of {y}."]
        f = r.choice(forms)
        y1, y2 = r.sample(range(1950, 2025), 2)
        return f.format(y=y1), f.format(y=y2)

    def negation(self) -> tuple[str, str]:
        r = self.r
        family = r.randrange(4)
        if family == 0:
            kw = {"task": r.choice(TASKS), "lang": r.choice(LANGS)}
            a, b = r.choice(HOWTO_WITH).format(**kw), r.choice(HOWTO_WITHOUT).format(**kw)
        elif family == 1:
            x = r.choice(NUTRIENTS)
            a, b = r.choice(FOODS_WITH).format(x=x), r.choice(FOODS_WITHOUT).format(x=x)
        elif family == 2:
            act = r.choice(ACTIONS)
            a, b = r.choice(WHAT_IF).format(a=act), r.choice(WHAT_IF_NOT).format(a=act)
        else:
            act = r.choice(ACTIONS)
            a, b = r.choice(SHOULD).format(a=act), r.choice(SHOULD_NOT).format(a=act)
        return (a, b) if r.random() < 0.5 else (b, a)

    def scope(self) -> tuple[str, str]:
        r = self.r
        if r.random() < 0.6:
            i, p = r.choice(ITEMS)
            a = r.choice(DELETE_ALL).format(i=i, p=p)
            b = r.choice(DELETE_SCOPED).format(i=i, p=p, adj=r.choice(ADJS))
        else:
            g, p = r.choice(GROUPS)
            a, b = r.choice(ALL_ARE).format(g=g, p=p), r.choice(SOME_ARE).format(g=g, p=p)
        return (a, b) if r.random() < 0.5 else (b, a)

    def antonyms(self) -> tuple[str, str]:
        r = self.r
        v1, v2 = r.choice(ANTONYM_VERBS)
        o, pl = r.choice(OBJECTS[v1]), r.choice(PLATFORMS)
        f1, f2 = self.two(VERB_FORMS) if r.random() < 0.5 else (r.choice(VERB_FORMS),) * 2
        a, b = f1.format(v=v1, o=o, pl=pl), f2.format(v=v2, o=o, pl=pl)
        return (a, b) if r.random() < 0.5 else (b, a)

    def dates(self) -> tuple[str, str]:
        r = self.r
        city = r.choice(CITIES)
        if r.random() < 0.6:
            d1, d2 = r.sample(DAYS, 2)
            f1, f2 = self.two(WEATHER) if r.random() < 0.5 else (r.choice(WEATHER),) * 2
            return f1.format(city=city, d=d1), f2.format(city=city, d=d2)
        m1, m2 = r.sample(MONTHS, 2)
        f1, f2 = self.two(VISIT) if r.random() < 0.5 else (r.choice(VISIT),) * 2
        return f1.format(city=city, m=m1), f2.format(city=city, m=m2)

    def units(self) -> tuple[str, str]:
        r = self.r
        u1, u2 = r.choice(UNITS)
        u3 = r.choice([u for u in SAME_KIND[u2] if u != u1])
        n = r.choice(NUMBERS)
        f1, f2 = self.two(CONVERT) if r.random() < 0.5 else (r.choice(CONVERT),) * 2
        return f1.format(n=n, u1=u1, u2=u2), f2.format(n=n, u1=u1, u2=u3)

    def quoted(self) -> tuple[str, str]:
        r = self.r
        p1, p2 = r.sample(PHRASES, 2)
        lang = r.choice(LANGUAGES)
        f1, f2 = self.two(TRANSLATE) if r.random() < 0.5 else (r.choice(TRANSLATE),) * 2
        return f1.format(p=p1, lang=lang), f2.format(p=p2, lang=lang)

    # -- partition traps: the same or a paraphrased last turn, something else differs ------------

    def multi_turn(self) -> tuple[dict[str, Any], dict[str, Any]]:
        r = self.r
        task = r.choice(TASKS)
        t1, t2 = r.choice(FOLLOWUPS)
        if r.random() < 0.5:
            t2 = t1
        l1, l2 = r.sample(LANGS, 2)
        opener = r.choice(HISTORY_OPENERS)
        reply = r.choice(HISTORY_REPLIES)
        system = self.system()
        h1 = [["user", opener.format(lang=l1)], ["assistant", reply]]
        h2 = [] if r.random() < 0.25 else [["user", opener.format(lang=l2)], ["assistant", reply]]
        return (self.side(t1.format(task=task), system=system, history=h1),
                self.side(t2.format(task=task), system=system, history=h2))

    def system_prompt(self) -> tuple[dict[str, Any], dict[str, Any]]:
        a, b = self.paraphrase()
        if self.r.random() < 0.5:
            b = a
        s1, s2 = self.r.sample(SYSTEMS, 2)
        return self.side(a, system=s1), self.side(b, system=s2)

    def tenant(self) -> tuple[dict[str, Any], dict[str, Any]]:
        a, b = self.paraphrase()
        if self.r.random() < 0.5:
            b = a
        t1, t2 = self.r.sample(TENANTS, 2)
        system = self.system()
        return self.side(a, tenant=t1, system=system), self.side(b, tenant=t2, system=system)


PLAN = {"paraphrase": 800, "negation": 400, "numbers": 400, "entities": 400, "scope": 400, "multi_turn": 300,
        "system_prompt": 300, "tenant": 300, "antonyms": 300, "dates": 300, "units": 200, "quoted": 200}


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    g = Gen(seed)
    for kind, count in PLAN.items():
        made = tries = 0
        while made < count and tries < count * 20:
            tries += 1
            pair = getattr(g, kind)()
            system = g.system() if isinstance(pair[0], str) else None
            made += g.add(kind, pair[0], pair[1], system=system)
    return g.out


def main() -> None:
    pairs = generate()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    print(f"wrote {len(pairs)} pairs to {OUT}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
