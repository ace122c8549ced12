"""Default chain parameters: java-tron's `getchainparameters` keys and order, mainnet-like values.

Order and keys follow `Wallet.getChainParameters()` in tronprotocol/java-tron
(framework/src/main/java/org/tron/core/Wallet.java). Values are a mainnet
`getchainparameters` response from 2023 quoted in EdgeApp/edge-currency-accountbased
(src/tron/tronTypes.ts), with the 2024 resource proposals applied where marked.
Keys java-tron added after that snapshot are marked too; devnet does not
depend on them. A genesis file overrides any value by key.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["DEFAULT_CHAIN_PARAMETERS"]

_ENTRIES: tuple[tuple[str, int], ...] = (
    ("getMaintenanceTimeInterval", 21_600_000),  # ms
    ("getAccountUpgradeCost", 9_999_000_000),  # sun
    ("getCreateAccountFee", 100_000),  # sun; bandwidth fee of an activating transfer
    ("getTransactionFee", 1_000),  # sun per byte of bandwidth
    ("getAssetIssueFee", 1_024_000_000),
    ("getWitnessPayPerBlock", 8_000_000),  # 2024 proposal (was 16 TRX)
    ("getWitnessStandbyAllowance", 115_200_000_000),
    ("getCreateNewAccountFeeInSystemContract", 1_000_000),  # sun
    ("getCreateNewAccountBandwidthRate", 1),
    ("getAllowCreationOfContracts", 1),
    ("getRemoveThePowerOfTheGr", -1),
    ("getEnergyFee", 100),  # sun per energy; 2024 proposal (snapshot: 420)
    ("getExchangeCreateFee", 1_024_000_000),
    ("getMaxCpuTimeOfOneTx", 80),  # ms
    ("getAllowUpdateAccountName", 0),
    ("getAllowSameTokenName", 1),
    ("getAllowDelegateResource", 1),
    ("getTotalEnergyLimit", 180_000_000_000),  # 2024 proposal (snapshot: 90e9)
    ("getAllowTvmTransferTrc10", 1),
    ("getTotalEnergyCurrentLimit", 180_000_000_000),
    ("getAllowMultiSign", 1),
    ("getAllowAdaptiveEnergy", 0),
    ("getTotalEnergyTargetLimit", 12_500_000),  # total energy limit / 14400
    ("getTotalEnergyAverageUsage", 0),
    ("getUpdateAccountPermissionFee", 100_000_000),
    ("getMultiSignFee", 1_000_000),
    ("getAllowAccountStateRoot", 0),
    ("getAllowProtoFilterNum", 0),
    ("getAllowTvmConstantinople", 1),
    ("getAllowTvmSolidity059", 1),
    ("getAllowTvmIstanbul", 1),
    ("getAllowShieldedTRC20Transaction", 1),
    ("getForbidTransferToContract", 0),
    ("getAdaptiveResourceLimitTargetRatio", 10),
    ("getAdaptiveResourceLimitMultiplier", 1_000),
    ("getChangeDelegation", 1),
    ("getWitness127PayPerBlock", 128_000_000),  # 2024 proposal (was 160 TRX)
    ("getAllowMarketTransaction", 0),
    ("getMarketSellFee", 0),
    ("getMarketCancelFee", 0),
    ("getAllowPBFT", 0),
    ("getAllowTransactionFeePool", 0),
    ("getMaxFeeLimit", 15_000_000_000),  # sun
    ("getAllowOptimizeBlackHole", 1),
    ("getAllowNewResourceModel", 0),
    ("getAllowTvmFreeze", 0),
    ("getAllowTvmVote", 1),
    ("getAllowTvmLondon", 1),
    ("getAllowTvmCompatibleEvm", 0),
    ("getAllowAccountAssetOptimization", 0),
    ("getFreeNetLimit", 600),  # bandwidth points per account per day
    ("getTotalNetLimit", 43_200_000_000),
    ("getAllowHigherLimitForMaxCpuTimeOfOneTx", 1),
    ("getAllowAssetOptimization", 1),
    ("getAllowNewReward", 1),
    ("getMemoFee", 1_000_000),  # sun per transaction carrying a memo
    ("getAllowDelegateOptimization", 1),
    ("getUnfreezeDelayDays", 14),
    ("getAllowOptimizedReturnValueOfChainId", 1),
    ("getAllowDynamicEnergy", 1),
    ("getDynamicEnergyThreshold", 3_000_000_000),
    ("getDynamicEnergyIncreaseFactor", 2_000),
    ("getDynamicEnergyMaxFactor", 12_000),
    ("getAllowTvmShangHai", 1),
    ("getAllowCancelAllUnfreezeV2", 1),
    ("getMaxDelegateLockPeriod", 864_000),  # blocks
    # Added to java-tron after the snapshot; values unverified, unused by devnet.
    ("getAllowOldRewardOpt", 1),
    ("getAllowEnergyAdjustment", 1),
    ("getMaxCreateAccountTxSize", 1_000),
    ("getAllowStrictMath", 0),
    ("getConsensusLogicOptimization", 0),
    ("getAllowTvmCancun", 0),
    ("getAllowTvmBlob", 0),
)

# Insertion order is java-tron's response order.
DEFAULT_CHAIN_PARAMETERS: MappingProxyType[str, int] = MappingProxyType(dict(_ENTRIES))
