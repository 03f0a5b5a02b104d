"""A synthetic world of people, generated from a seed: the knowledge a tiny assistant pre-trains on.

Report §1.2.2: pre-training on unlabeled text gives a model its knowledge; instruction tuning teaches
it to answer questions with that knowledge. To *measure* knowledge we need facts whose truth we
know and that no download can leak: the setup of Allen-Zhu & Li 2023, "Physics of Language Models,
Part 3.1: Knowledge Storage and Extraction" (arXiv:2309.14316). Each person has a name and five
attributes drawn independently and uniformly:

    birth date   day 1-28 x month x year 1950-1999      birth city   one of CITIES
    university   one of UNIVERSITIES                    major        one of MAJORS
    employer     one of EMPLOYERS

Every value has an English and a Chinese form (``value(attribute, lang)``), and so does every
name: a Chinese surname and given name, written in pinyin for English ("Zhang Weiming", 张伟明).
Each person's biographies are written in English, in Chinese, or in both (``languages``): a
person known only in one language is how cross-language extraction is measured.

``make_world(n_people, seed)`` is deterministic; ``imaginary_names`` draws names that belong to no
one (the "made-up people" a truthful assistant answers "I don't know" about). The biographies
and questions are rendered by minillm/data/biographies.py. Docs: docs/assistant.md.
"""

from __future__ import annotations

import numbers
import random
from dataclasses import dataclass

__all__ = [
    "ATTRIBUTES",
    "CITIES",
    "EMPLOYERS",
    "MAJORS",
    "UNIVERSITIES",
    "Person",
    "World",
    "check_positive_int",
    "format_date",
    "imaginary_names",
    "make_world",
    "value",
]

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")
LANGS = ("en", "zh")

# (English, Chinese) pairs. Cities are real; universities and employers are invented, so no
# pre-trained model could know them and the Chinese is a translation, not a transliteration.
CITIES = [
    ("Beijing", "北京"), ("Shanghai", "上海"), ("Guangzhou", "广州"), ("Shenzhen", "深圳"),
    ("Chengdu", "成都"), ("Hangzhou", "杭州"), ("Wuhan", "武汉"), ("Xi'an", "西安"),
    ("Nanjing", "南京"), ("Tianjin", "天津"), ("Chongqing", "重庆"), ("Suzhou", "苏州"),
    ("Harbin", "哈尔滨"), ("Kunming", "昆明"), ("Xiamen", "厦门"), ("Qingdao", "青岛"),
    ("Dalian", "大连"), ("Changsha", "长沙"), ("Lhasa", "拉萨"), ("Urumqi", "乌鲁木齐"),
    ("Tokyo", "东京"), ("Paris", "巴黎"), ("London", "伦敦"), ("Berlin", "柏林"),
]  # fmt: skip
UNIVERSITIES = [
    ("Riverside University", "河畔大学"), ("Eastern Normal University", "东方师范大学"),
    ("Northern Institute of Technology", "北方理工学院"), ("Lakeside University", "湖滨大学"),
    ("Southern Medical University", "南方医科大学"), ("Coastal University", "海滨大学"),
    ("Mountain State University", "山城大学"), ("Central Agricultural University", "中央农业大学"),
    ("Western Polytechnic", "西部工业大学"), ("Pine Hill College", "松山学院"),
    ("Golden Gate University", "金门大学"), ("Red Cliff University", "赤壁大学"),
    ("Jade River College", "玉河学院"), ("Silver Lake Institute", "银湖学院"),
    ("Maple Valley University", "枫谷大学"), ("Starlight University", "星光大学"),
]  # fmt: skip
MAJORS = [
    ("physics", "物理学"), ("chemistry", "化学"), ("mathematics", "数学"), ("biology", "生物学"),
    ("history", "历史学"), ("economics", "经济学"), ("computer science", "计算机科学"),
    ("law", "法学"), ("medicine", "医学"), ("philosophy", "哲学"), ("architecture", "建筑学"),
    ("music", "音乐"), ("geology", "地质学"), ("linguistics", "语言学"), ("psychology", "心理学"),
    ("civil engineering", "土木工程"),
]  # fmt: skip
EMPLOYERS = [
    ("Northwind Bank", "北风银行"), ("Bluewave Software", "蓝浪软件"), ("Greenfield Foods", "绿野食品"),
    ("Redstone Steel", "红石钢铁"), ("Skyline Airlines", "天际航空"), ("Harbor Shipping", "港湾航运"),
    ("Sunrise Hospital", "日出医院"), ("Evergreen Press", "常青出版社"), ("Summit Motors", "峰顶汽车"),
    ("Crystal Pharma", "水晶制药"), ("Lotus Telecom", "莲花电信"), ("Oakwood Insurance", "橡木保险"),
    ("Bright Energy", "光明能源"), ("Cloudpeak Games", "云峰游戏"), ("Riverstone Bridges", "河石桥梁"),
    ("Phoenix Textiles", "凤凰纺织"),
]  # fmt: skip
POOLS = {"birth_city": CITIES, "university": UNIVERSITIES, "major": MAJORS, "employer": EMPLOYERS}

SURNAMES = [
    ("Zhang", "张"), ("Wang", "王"), ("Li", "李"), ("Liu", "刘"), ("Chen", "陈"), ("Yang", "杨"),
    ("Huang", "黄"), ("Zhao", "赵"), ("Wu", "吴"), ("Zhou", "周"), ("Xu", "徐"), ("Sun", "孙"),
    ("Ma", "马"), ("Zhu", "朱"), ("Hu", "胡"), ("Guo", "郭"), ("He", "何"), ("Lin", "林"),
    ("Luo", "罗"), ("Gao", "高"), ("Zheng", "郑"), ("Liang", "梁"), ("Xie", "谢"), ("Song", "宋"),
    ("Tang", "唐"), ("Han", "韩"), ("Feng", "冯"), ("Deng", "邓"), ("Cao", "曹"), ("Peng", "彭"),
]  # fmt: skip
GIVEN = [  # syllables of given names; a given name is one or two of them
    ("wei", "伟"), ("fang", "芳"), ("min", "敏"), ("jing", "静"), ("lei", "磊"), ("yang", "洋"),
    ("yan", "艳"), ("jun", "军"), ("jie", "杰"), ("tao", "涛"), ("ming", "明"), ("chao", "超"),
    ("xiu", "秀"), ("hua", "华"), ("hui", "慧"), ("qiang", "强"), ("ling", "玲"), ("bo", "波"),
    ("hong", "红"), ("ping", "平"), ("gang", "刚"), ("lan", "兰"), ("xin", "欣"), ("yu", "宇"),
    ("hao", "浩"), ("kai", "凯"), ("rui", "瑞"), ("ning", "宁"), ("feng", "峰"), ("yun", "云"),
]  # fmt: skip
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip


def check_positive_int(x, name: str, low: int = 1) -> int:
    """``x`` if it is an int >= ``low`` (bool is not one), else a ValueError naming ``name``."""
    if not isinstance(x, numbers.Integral) or isinstance(x, bool) or x < low:
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {kind}, got {x!r}")
    return int(x)


def format_date(date: tuple[int, int, int], lang: str) -> str:
    """(year, month, day) → "March 3, 1975" or "1975年3月3日"."""
    y, m, d = date
    return f"{MONTHS[m - 1]} {d}, {y}" if lang == "en" else f"{y}年{m}月{d}日"


@dataclass(frozen=True)
class Person:
    """One person: names in both languages, the five attributes (indices into the pools; the date
    as (year, month, day)), a pronoun choice and the languages the biographies are written in."""

    name_en: str
    name_zh: str
    female: bool
    birth_date: tuple[int, int, int]
    birth_city: int
    university: int
    major: int
    employer: int
    languages: tuple[str, ...]  # ("en",), ("zh",) or ("en", "zh")

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


def value(person: Person, attribute: str, lang: str) -> str:
    """The text of one attribute of ``person`` in ``lang`` ("en" or "zh"): what an answer must say."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; known: {ATTRIBUTES}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; known: {LANGS}")
    if attribute == "birth_date":
        return format_date(person.birth_date, lang)
    return POOLS[attribute][getattr(person, attribute)][LANGS.index(lang)]


@dataclass(frozen=True)
class World:
    """The people, and the split the assistant's stages use: ``tuned`` people's questions are
    instruction-tuned on, ``held_out`` people's are only asked at evaluation (their facts were seen
    in pre-training only)."""

    people: tuple[Person, ...]
    seed: int

    @property
    def tuned(self) -> tuple[Person, ...]:
        return self.people[0::2]

    @property
    def held_out(self) -> tuple[Person, ...]:
        return self.people[1::2]


def _draw_name(rng: random.Random) -> tuple[str, str]:
    (s_en, s_zh), parts = rng.choice(SURNAMES), [rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))]
    return f"{s_en} {''.join(p[0] for p in parts).capitalize()}", s_zh + "".join(p[1] for p in parts)


def _unique_names(rng: random.Random, n: int, taken: set[str]) -> list[tuple[str, str]]:
    """``n`` names no one in ``taken`` has, in either script (a pinyin name can stand for two
    Chinese names, 王伟 and 汪伟 alike; keeping both unique keeps each name one person)."""
    capacity = len(SURNAMES) * (len(GIVEN) + len(GIVEN) ** 2)
    if n + len(taken) // 2 > capacity // 2:
        raise ValueError(f"{n} more names do not fit among the {capacity} possible names; ask for fewer people")
    out = []
    while len(out) < n:
        en, zh = _draw_name(rng)
        if en not in taken and zh not in taken:
            taken.update((en, zh))
            out.append((en, zh))
    return out


def make_world(n_people: int = 1000, seed: int = 0, single_language: float = 0.3) -> World:
    """``n_people`` people drawn from ``seed``. A share ``single_language`` of them have biographies
    in one language only (half English, half Chinese); the rest in both."""
    n_people, seed = check_positive_int(n_people, "n_people"), check_positive_int(seed, "seed", low=0)
    if not 0 <= single_language <= 1:
        raise ValueError(f"single_language must be a share in [0, 1], got {single_language!r}")
    rng = random.Random(f"world-{seed}")
    people = []
    for i, (en, zh) in enumerate(_unique_names(rng, n_people, set())):
        date = (rng.randint(1950, 1999), rng.randint(1, 12), rng.randint(1, 28))
        picks = {a: rng.randrange(len(pool)) for a, pool in POOLS.items()}
        one = rng.random() < single_language
        languages = (rng.choice(LANGS),) if one else LANGS
        people.append(Person(en, zh, rng.random() < 0.5, date, **picks, languages=languages))
    return World(tuple(people), seed)


def imaginary_names(world: World, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (English, Chinese) names that no person of ``world`` has: the made-up people."""
    n = check_positive_int(n, "n")
    taken = {name for p in world.people for name in (p.name_en, p.name_zh)}
    return _unique_names(random.Random(f"imaginary-{world.seed}-{seed}"), n, taken)
