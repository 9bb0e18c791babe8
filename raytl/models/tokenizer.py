"""Tokenizers: the hub tokenizer for real models; for tiny models one trained offline on generated text."""

from __future__ import annotations

from functools import lru_cache

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from raytl.models.zoo import TINY_VOCAB_SIZE, ModelEntry
from raytl.tasks.catalog import TASKS
from raytl.tasks.generate import corpus

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R's order: <s>=0, <pad>=1, </s>=2


def load_tokenizer(entry: ModelEntry) -> PreTrainedTokenizerBase:
    """The entry's tokenizer; tiny entries get a deterministic BPE over generated text in every task language."""
    if entry.hub_id is not None:
        return AutoTokenizer.from_pretrained(entry.hub_id, revision=entry.revision,
                                             trust_remote_code=entry.trust_remote_code)
    languages = sorted({lang for task in TASKS.values() for lang in task.languages})
    return _tiny_tokenizer(tuple(languages))


@lru_cache(maxsize=1)
def _tiny_tokenizer(languages: tuple[str, ...]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB_SIZE, special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(corpus(list(languages)), trainer=trainer)
    # XLM-R's layout: <s> A </s></s> B </s>
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )
