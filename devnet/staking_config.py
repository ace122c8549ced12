"""Devnet-only staking and reward settings: the `[staking]` table of a genesis file.

java-tron takes these from dynamic properties or hard-coded constants that
no proposal a test can wait for would change, so devnet lets genesis set them:

- `unfreeze_delay_ms`: how long UnfreezeBalanceV2 keeps TRX in `unfrozenV2`
  before WithdrawExpireUnfreeze may return it. Unset, it is java-tron's
  `getUnfreezeDelayDays` x 86 400 000 ms (14 days on mainnet); tests set a
  few hundred milliseconds. `getchainparameters` keeps showing the days.
- `withdraw_cooldown_ms`: the minimum time between two WithdrawBalance of an
  account (java-tron: getWitnessAllowanceFrozenTime = 1 day; its refusal
  still says "less than 24 hours", as java-tron's text is fixed).
- `vote_reward_per_block_sun`: devnet's reward model. Every block pays this
  much to the voters, shared in proportion to the votes each has standing
  (votes cast in a block earn from that block on); unset, it is
  `getWitness127PayPerBlock`. java-tron instead pays per maintenance cycle
  through each witness and its brokerage; devnet's genesis witnesses are
  guard representatives and keep nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_STAKING", "FROZEN_PERIOD_MS", "StakingConfig"]

# Parameter.ChainConstant.FROZEN_PERIOD: one day, the unit of the unfreeze delay.
FROZEN_PERIOD_MS = 86_400_000


class StakingConfig(BaseModel):
    """Stake 2.0 and reward settings java-tron does not expose as chain parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unfreeze_delay_ms: int | None = Field(default=None, ge=0)
    withdraw_cooldown_ms: int = Field(default=FROZEN_PERIOD_MS, ge=0)
    vote_reward_per_block_sun: int | None = Field(default=None, ge=0)


DEFAULT_STAKING = StakingConfig()
