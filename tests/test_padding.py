import pytest
import torch

from rlrewards.utils.padding import pad_token_rows


def test_right_padding_keeps_positions_and_masks_the_rest():
    ids, attention = pad_token_rows([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert attention.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == attention.dtype == torch.long


def test_left_padding_ends_every_row_in_the_last_column():
    ids, attention = pad_token_rows([[5, 6, 7], [8]], pad_id=9, side="left")
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8]]
    assert attention.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_min_width_widens_short_batches():
    ids, attention = pad_token_rows([[4]], pad_id=0, min_width=2)
    assert ids.tolist() == [[4, 0]] and attention.tolist() == [[1, 0]]


def test_unknown_side_is_refused():
    with pytest.raises(ValueError, match="side"):
        pad_token_rows([[1]], pad_id=0, side="middle")
