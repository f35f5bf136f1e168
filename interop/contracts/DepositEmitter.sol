// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// The deposit entry point of an OP Stack L1, reduced to what the L2 sees.
///
/// `depositTransaction` has the OptimismPortal's signature, input checks and event, per the OP deposits spec
/// ("The Deposited Transaction Type" / "L1 to L2 deposits"): the event
/// `TransactionDeposited(address indexed from, address indexed to, uint256 indexed version, bytes opaqueData)` with
/// version 0 and `opaqueData = abi.encodePacked(msg.value, _value, _gasLimit, _isCreation, _data)`, and `from`
/// aliased when the caller is a contract. What the portal does beyond that (resource metering, pause and custom gas
/// token checks, withdrawals) needs SystemConfig, SuperchainConfig and a proxy set up around it, and none of it
/// changes the log the derivation pipeline reads, so it is left out. The ETH sent stays in this contract, as it does
/// in the portal.
contract DepositEmitter {
    event TransactionDeposited(address indexed from, address indexed to, uint256 indexed version, bytes opaqueData);

    error BadTarget();
    error SmallGasLimit();
    error LargeCalldata();

    uint256 internal constant DEPOSIT_VERSION = 0;
    uint160 internal constant ALIAS_OFFSET = uint160(0x1111000000000000000000000000000000001111);

    function minimumGasLimit(uint64 _byteCount) public pure returns (uint64) {
        return _byteCount * 16 + 21000;
    }

    function depositTransaction(
        address _to,
        uint256 _value,
        uint64 _gasLimit,
        bool _isCreation,
        bytes memory _data
    ) public payable {
        if (_isCreation && _to != address(0)) revert BadTarget();
        if (_gasLimit < minimumGasLimit(uint64(_data.length))) revert SmallGasLimit();
        if (_data.length > 120_000) revert LargeCalldata();

        address from = msg.sender;
        if (msg.sender != tx.origin) {
            unchecked {
                from = address(uint160(msg.sender) + ALIAS_OFFSET);
            }
        }
        bytes memory opaqueData = abi.encodePacked(msg.value, _value, _gasLimit, _isCreation, _data);
        emit TransactionDeposited(from, _to, DEPOSIT_VERSION, opaqueData);
    }

    receive() external payable {
        depositTransaction(msg.sender, msg.value, 100_000, false, bytes(""));
    }
}
