"""The compact pinyin table (crmcore.pinyin) gives pypinyin's output, and is what pypinyin's data gives today."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest
from pypinyin import lazy_pinyin as reference
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT, RE_HANS

from crmcore import pinyin

# surnames read otherwise than the character alone, names, places and companies, and mixed text
SAMPLES = [
    "曾", "曾先生", "曾经", "单", "单小姐", "单位", "区", "区先生", "仇", "仇女士", "解", "解先生", "查", "查先生", "朴",
    "盖", "乐", "乐先生", "快乐", "尉迟恭", "万俟", "长孙无忌", "长沙", "成长", "重庆", "重要", "银行", "行走", "朝阳区",
    "朝代", "华为", "华山", "沈阳", "石家庄", "厦门", "蚌埠", "六安", "丽水", "番禺", "单县", "曾国藩", "覃", "翟", "缪",
    "宁波港口物流有限公司", "杭州西湖茶业 bench 1", "张三 13800138000", "北京ABC科技有限公司（北京分公司）", "〇",
    "abc", "", "  ", "𠀀𠀁", "兙兡嗧", "张兙三", "李 四", "（有限公司）", "王小明・王大明", "重重重重", "银行行长",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_samples_read_as_pypinyin(text):
    assert pinyin.lazy_pinyin(text) == reference(text, errors="ignore")


def test_every_character_and_phrase_reads_as_pypinyin():
    words = [chr(n) for n in PINYIN_DICT] + list(PHRASES_DICT)
    assert [pinyin.lazy_pinyin(w) for w in words] == [reference(w, errors="ignore") for w in words]


def test_texts_that_cut_into_words_read_as_pypinyin():
    """Random runs of phrases, characters and other text: the cut into words (longest phrase first) is pypinyin's."""
    rng = random.Random(15)
    phrases = sorted(PHRASES_DICT)
    chars = [chr(n) for n in sorted(PINYIN_DICT) if n < 0x10000]
    texts = []
    for _ in range(3000):
        parts = [rng.choice(phrases) if rng.random() < 0.5 else rng.choice(chars) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.3:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice([" ", "A1", "-", "（", "x y"]))
        texts.append("".join(parts))
    # each phrase's own prefixes glued to the next phrase: the partial matches the cut must give up
    texts += [p[:-1] + q for p, q in zip(phrases[::50], phrases[7::50], strict=False) if len(p) > 2]
    assert [pinyin.lazy_pinyin(t) for t in texts] == [reference(t, errors="ignore") for t in texts]


def test_han_characters_are_pypinyins():
    for n in range(0x32400):
        assert bool(pinyin._HANS.fullmatch(chr(n))) == bool(RE_HANS.match(chr(n))), hex(n)


def test_the_shipped_table_is_built_from_the_installed_pypinyin():
    """When pypinyin is upgraded, ``python -m crmcore.pinyin`` writes the table again (this test says so)."""
    assert pinyin.TABLE.read_bytes() == pinyin.build_table()


def test_reading_pinyin_does_not_import_pypinyin():
    code = ("import sys; from crmcore import pinyin; print(pinyin.lazy_pinyin('重庆银行'), "
            "any(m.startswith('pypinyin') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['chong',", "'qing',", "'yin',", "'hang']", "False"]
