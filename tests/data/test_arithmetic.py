"""Addition in two formats (minillm/data/arithmetic.py): the digit-by-digit chain and the direct answer,
written with the prompting module's templates."""

from minillm.data.arithmetic import CHAIN, addition_chain, addition_pair
from minillm.prompting import chain_of_thought_prompt


def test_addition_formats_use_the_templates():
    assert addition_chain(58, 67) == "8+7=15,5+6+1=12"
    assert addition_chain(999, 1) == "9+1=10,9+0+1=10,9+0+1=10"
    assert addition_pair(58, 67, "chain") == ("58+67=", "8+7=15,5+6+1=12;125\n")
    assert addition_pair(58, 67, "direct") == ("58+67=", "125\n")
    assert chain_of_thought_prompt([("1+2", "1+2=3", "3")], "4+5", CHAIN) == "1+2=1+2=3;3\n4+5="
